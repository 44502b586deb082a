// Drives the web console in Debian's headless Chromium (puppeteer-core, never
// a downloaded browser) for crates/cli/tests/console.rs, one phase per run:
//
//   node console-e2e.mjs PHASE CONFIG_JSON
//
// CONFIG_JSON: { gateway, ca, cert, key, artifacts, people: { NAME: { keystore,
// password } | { privateKey } }, ...phase arguments }. A person with a
// privateKey signs in through an injected EIP-1193 test provider that signs
// eth_signTypedData_v4 with @metamask/eth-sig-util (an implementation
// independent of the console's viem). Each phase prints one JSON line with
// what it saw; it exits non-zero (with the reason) when the console does not
// behave.
import puppeteer from 'puppeteer-core';
import { signTypedData, SignTypedDataVersion } from '@metamask/eth-sig-util';
import { privateKeyToAddress } from 'viem/accounts';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { createServer, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [phase, configText] = process.argv.slice(2);
const cfg = JSON.parse(configText);
mkdirSync(cfg.artifacts, { recursive: true });
const certPem = readFileSync(cfg.cert, 'utf8');
// Trust exactly the deployment's certificate (by its public key), not every certificate.
const spki = createHash('sha256').update(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');

function fail(msg) {
  throw new Error(msg);
}

const launched = []; // browsers and their profiles, removed even when a phase fails

async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'box-console-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', `--ignore-certificate-errors-spki-list=${spki}`],
  });
  const close = async () => {
    await browser.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  launched.push(close);
  return { browser, close };
}

/** A page with an EIP-1193 wallet for `privateKey`, recording what it is asked to sign. */
async function page(browser, wallet) {
  const p = await browser.newPage();
  await p.setViewport({ width: 1200, height: 860 });
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  p.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });
  const signed = [];
  if (wallet) {
    const address = privateKeyToAddress(wallet);
    await p.exposeFunction('__boxTestWalletSign', (json) => {
      const data = JSON.parse(json);
      signed.push(data.primaryType);
      return signTypedData({ privateKey: Buffer.from(wallet.slice(2), 'hex'), data, version: SignTypedDataVersion.V4 });
    });
    await p.evaluateOnNewDocument((addr) => {
      window.ethereum = {
        isBoxTestProvider: true,
        async request({ method, params }) {
          if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [addr];
          if (method === 'eth_signTypedData_v4') {
            if (params[0].toLowerCase() !== addr.toLowerCase()) throw new Error('unknown account');
            return window.__boxTestWalletSign(params[1]);
          }
          throw Object.assign(new Error(`unsupported ${method}`), { code: 4200 });
        },
      };
    }, address);
  }
  return { p, signed, errors };
}

async function shot(p, name) {
  await p.screenshot({ path: join(cfg.artifacts, `${name}.png`), fullPage: true });
}

async function alertText(p) {
  return p.$eval('#alert', (x) => (x.hidden ? '' : x.textContent));
}

async function waitText(p, selector, needle, timeout = 60_000) {
  try {
    await p.waitForFunction((s, n) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(n)), { timeout, polling: 200 }, selector, needle);
  } catch {
    const alert = await alertText(p).catch(() => '');
    const main = await p.$eval('main', (m) => m.innerText).catch(() => '');
    fail(`waited for "${needle}" in ${selector}; the page shows:\n${main}\nalert: ${alert}`);
  }
}

/** Signs in as `name` at `base` (a keystore file and password, or the injected wallet). */
async function signIn(base, name, { password } = {}) {
  const who = cfg.people[name];
  const { browser, close } = await launch();
  const { p, signed, errors } = await page(browser, who.privateKey);
  await p.goto(`${base}/console/`, { waitUntil: 'networkidle0' });
  const csp = await p.evaluate(async () => (await fetch(location.href)).headers.get('content-security-policy'));
  if (!csp || !csp.includes("script-src 'self'")) fail(`the console is served without its CSP: ${csp}`);
  await p.waitForSelector('#keystore');
  if (who.privateKey) {
    await p.click('#connect-wallet');
  } else {
    const input = await p.$('#keystore');
    await input.uploadFile(who.keystore);
    await p.type('#password', password ?? who.password);
    await p.click('#signin');
  }
  return { p, signed, errors, close };
}

async function signedIn(p) {
  try {
    await p.waitForSelector('#nav:not([hidden])', { timeout: 60_000 });
  } catch {
    fail(`sign-in failed: ${await alertText(p)}`);
  }
}

async function go(p, hash) {
  await p.evaluate((h) => { location.hash = h; }, hash);
}

/** A relay that changes the destination in every JSON answer: the attack the console must catch. */
function tamperingRelay(target, victim, attacker) {
  const key = readFileSync(cfg.key);
  const server = createServer({ cert: certPem, key }, (req, res) => {
    const url = new URL(target);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const up = httpsRequest({ host: url.hostname, port: url.port, path: req.url, method: req.method, headers: { ...req.headers, host: url.host },
        ca: readFileSync(cfg.ca), servername: 'localhost' }, (r) => {
        const body = [];
        r.on('data', (c) => body.push(c));
        r.on('end', () => {
          let buf = Buffer.concat(body);
          const headers = { ...r.headers };
          if (String(r.headers['content-type']).includes('application/json')) {
            const text = buf.toString('utf8').replace(new RegExp(victim.slice(2), 'gi'), attacker.slice(2));
            buf = Buffer.from(text, 'utf8');
            headers['content-length'] = String(buf.length);
          }
          res.writeHead(r.statusCode, headers);
          res.end(buf);
        });
      });
      up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      up.end(Buffer.concat(chunks));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `https://127.0.0.1:${server.address().port}`, close: () => server.close() })));
}

const phases = {
  // A key holder authorizes the flow through the injected wallet.
  async authorize() {
    const s = await signIn(cfg.gateway, cfg.as);
    await signedIn(s.p);
    await go(s.p, '#/keyholder');
    await waitText(s.p, 'main', cfg.flowName);
    await shot(s.p, '01-keyholder-flows-to-authorize');
    await s.p.click(`button.authorize[data-flow="${cfg.flow}"]`);
    await waitText(s.p, '#authorized', 'on its way');
    await shot(s.p, '02-keyholder-authorized');
    return { signed: s.signed, errors: s.errors, close: s.close };
  },

  async wrongPassword() {
    const s = await signIn(cfg.gateway, cfg.as, { password: 'not the password' });
    await waitText(s.p, '#alert', 'Wrong password');
    await shot(s.p, '03-signin-wrong-password');
    return { alert: await alertText(s.p), signed: s.signed, errors: s.errors, close: s.close };
  },

  // The employee applies and sees the transfer in their list.
  async apply() {
    const s = await signIn(cfg.gateway, cfg.as);
    await signedIn(s.p);
    await go(s.p, '#/apply');
    await s.p.waitForSelector('#to');
    await s.p.select('#asset', '0x0000000000000000000000000000000000000000');
    await s.p.type('#to', cfg.to);
    await s.p.type('#amount', cfg.amount);
    await shot(s.p, '04-employee-apply');
    await s.p.click('#review');
    await s.p.waitForSelector('#sign-apply');
    await waitText(s.p, '#confirm', `${cfg.amount} ETH`);
    await shot(s.p, '05-employee-confirm');
    await s.p.click('#sign-apply');
    await s.p.waitForSelector('tr[data-transfer]', { timeout: 60_000 }).catch(async () => fail(`no transfer listed: ${await alertText(s.p)}`));
    const id = await s.p.$eval('tr[data-transfer]', (r) => r.dataset.transfer);
    await shot(s.p, '06-employee-my-transfers');
    return { id, signed: s.signed, errors: s.errors, close: s.close };
  },

  // An approver reviews the transfer and approves (or is refused, through a tampering relay).
  async approve() {
    let relay = null;
    let base = cfg.gateway;
    if (cfg.tamperTo) {
      relay = await tamperingRelay(cfg.gateway, cfg.to, cfg.tamperTo);
      base = relay.url;
    }
    const s = await signIn(base, cfg.as);
    await signedIn(s.p);
    await go(s.p, '#/approvals');
    await s.p.waitForSelector(`tr[data-transfer="${cfg.id}"] a.review`, { timeout: 60_000 });
    await shot(s.p, cfg.tamperTo ? '09-approvals-through-a-tampering-relay' : `07-approvals-level-${cfg.level}`);
    await s.p.click(`tr[data-transfer="${cfg.id}"] a.review`);
    if (cfg.tamperTo) {
      await waitText(s.p, '#refused', 'Refused to sign');
      const text = await s.p.$eval('#refused', (e) => e.textContent);
      if (await s.p.$('#approve')) fail('an approve button is offered for a transfer that does not verify');
      await shot(s.p, '10-tampered-transfer-refused');
      relay.close();
      return { refused: text, signed: s.signed, errors: s.errors, close: s.close };
    }
    await waitText(s.p, '#verified', 'Checked in this browser');
    const destination = await s.p.$eval('#destination', (e) => e.textContent);
    const isNew = !!(await s.p.$('#new-destination'));
    await shot(s.p, `08-approve-level-${cfg.level}`);
    await s.p.click('#approve');
    await waitText(s.p, '#result', 'Approved at level');
    await shot(s.p, `08-approved-level-${cfg.level}`);
    return { destination, isNew, signed: s.signed, errors: s.errors, close: s.close };
  },

  // The employee's list shows the confirmed transfer and its public hash; the status page its outflow.
  async confirmed() {
    const s = await signIn(cfg.gateway, cfg.as);
    await signedIn(s.p);
    await go(s.p, '#/mine');
    await s.p.waitForSelector(`tr[data-transfer="${cfg.id}"][data-state="confirmed"]`, { timeout: 120_000 });
    const row = await s.p.$eval(`tr[data-transfer="${cfg.id}"]`, (r) => r.innerText);
    await shot(s.p, '11-employee-confirmed');
    await go(s.p, '#/status');
    await s.p.waitForSelector('figure.chart[data-asset="ETH"]');
    const chart = await s.p.$eval('figure.chart[data-asset="ETH"] figcaption', (e) => e.textContent);
    await shot(s.p, '12-status-employee');
    return { row, chart, signed: s.signed, errors: s.errors, close: s.close };
  },

  // The auditor: status, history, and the verify button.
  async audit() {
    const s = await signIn(cfg.gateway, cfg.as);
    await signedIn(s.p);
    await go(s.p, '#/status');
    await s.p.waitForSelector('figure.chart[data-asset="ETH"]');
    const chart = await s.p.$eval('figure.chart[data-asset="ETH"] figcaption', (e) => e.textContent);
    const signer = await s.p.$eval('main', (m) => m.innerText);
    await shot(s.p, '13-status-auditor');
    await go(s.p, '#/history');
    await s.p.waitForSelector('#verify');
    await s.p.click('#verify');
    await waitText(s.p, '#verify-result', 'The history verifies', 120_000);
    const verified = await s.p.$eval('#verify-result', (e) => e.textContent);
    await shot(s.p, '14-history-verified');
    return { chart, signer, verified, signed: s.signed, errors: s.errors, close: s.close };
  },

  // After IDLE_MINUTES without activity the key is forgotten (the clock is moved on, not waited for).
  async expired() {
    const s = await signIn(cfg.gateway, cfg.as);
    await signedIn(s.p);
    await s.p.evaluate(() => {
      const real = Date.now.bind(Date);
      Date.now = () => real() + 16 * 60 * 1000;
    });
    await waitText(s.p, '#signin-message', 'expired');
    const message = await s.p.$eval('#signin-message', (e) => e.textContent);
    const nav = await s.p.$eval('#nav', (n) => n.hidden);
    await shot(s.p, '15-session-expired');
    return { message, navHidden: nav, signed: s.signed, errors: s.errors, close: s.close };
  },

  // A key holder proposes listing a destination in the address book (the
  // book empty first); what is signed is an AddressBookEntry.
  async addressBook() {
    const s = await signIn(cfg.gateway, cfg.as);
    await signedIn(s.p);
    await go(s.p, '#/keyholder');
    await s.p.waitForSelector('#book-empty');
    await s.p.type('#book-address', cfg.address);
    await s.p.type('#book-label', cfg.label);
    await s.p.click('#book-add');
    await waitText(s.p, '#book-result', 'Listing signed');
    await shot(s.p, '17-keyholder-address-book-proposed');
    return { signed: s.signed, errors: s.errors, close: s.close };
  },

  // The key holder's page shows the listed destination with its label.
  async bookShown() {
    const s = await signIn(cfg.gateway, cfg.as);
    await signedIn(s.p);
    await go(s.p, '#/keyholder');
    await waitText(s.p, `tr[data-book="${cfg.address}"]`, cfg.label);
    await shot(s.p, '18-keyholder-address-book');
    return { signed: s.signed, errors: s.errors, close: s.close };
  },

  // A key holder pauses all transfers.
  async pause() {
    const s = await signIn(cfg.gateway, cfg.as);
    await signedIn(s.p);
    await go(s.p, '#/keyholder');
    await s.p.waitForSelector('#pause-reason');
    await s.p.type('#pause-reason', cfg.reason);
    await s.p.click('#pause');
    await waitText(s.p, '#pause-result', 'Pause signed');
    await shot(s.p, '16-keyholder-paused');
    return { signed: s.signed, errors: s.errors, close: s.close };
  },

  // The gateway answers 429: the console says so, with when to try again.
  async throttled() {
    const { browser, close } = await launch();
    const s = await page(browser, null);
    await s.p.goto(`${cfg.gateway}/console/`, { waitUntil: 'networkidle0' });
    await waitText(s.p, '#alert', 'Try again in');
    await shot(s.p, '17-rate-limited');
    return { alert: await alertText(s.p), signed: s.signed, errors: s.errors, close };
  },
};

try {
  if (!phases[phase]) fail(`unknown phase ${phase}`);
  const { close, ...out } = await phases[phase]();
  await close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
} catch (e) {
  process.stderr.write(`console-e2e ${phase}: ${e.stack || e}\n`);
  for (const close of launched) await close();
  process.exit(1);
}
