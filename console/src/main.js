// The BOX web console: sign-in, session, navigation. The key is held in this
// module's memory only, and forgotten on sign-out, when the tab is closed or
// hidden for good (pagehide), and after IDLE_MINUTES without activity.
import { h, show, refresh, alert, busy } from './ui.js';
import { publicGet, client, explain } from './api.js';
import { checkCatalogue } from './typed.js';
import { decryptKeystore, keystoreSigner, walletSigner, WrongPassword } from './keys.js';
import { statusPage } from './pages/status.js';
import { approvalsPage, approvePage } from './pages/approver.js';
import { applyPage, minePage } from './pages/employee.js';
import { keyHolderPage } from './pages/keyholder.js';
import { historyPage } from './pages/history.js';

export const IDLE_MINUTES = 15;

let session = null; // { signer, api, me, domain, deployment, assets, timer }
let boot = null; // { deployment, domain }
let lastActivity = Date.now();
let view = 0; // the current page's number: a slower earlier page never draws over it

const PAGES = [
  { hash: '#/approvals', label: 'Approvals', roles: ['approver'], render: approvalsPage },
  { hash: '#/apply', label: 'Apply', roles: ['employee'], render: applyPage },
  { hash: '#/mine', label: 'My transfers', roles: ['employee'], render: minePage },
  { hash: '#/keyholder', label: 'Key holder', roles: ['key_holder'], render: keyHolderPage },
  { hash: '#/status', label: 'Status', roles: null, render: statusPage },
  { hash: '#/history', label: 'History and audit', roles: ['auditor', 'admin', 'key_holder'], render: historyPage },
];

function allowed(page) {
  return !page.roles || page.roles.some((r) => session.me.roles.includes(r));
}

function touch() {
  lastActivity = Date.now();
}

/** Forgets the key; `why` is shown on the sign-in page. */
export function signOut(why) {
  view += 1;
  if (session) {
    clearInterval(session.timer);
    session.signer.forget();
    session.stop?.();
    session = null;
  }
  document.getElementById('nav').hidden = true;
  document.getElementById('nav').replaceChildren();
  document.getElementById('who').replaceChildren();
  if (location.hash) history.replaceState(null, '', location.pathname);
  signInPage(why);
}

async function start(signer) {
  const api = client(boot.domain, signer);
  const me = await api.get('/v1/me');
  if (!me.roles.length) {
    signer.forget();
    throw new Error(`${signer.address} is not registered at this deployment: ask an admin to register you`);
  }
  const assets = await api.get('/v1/assets');
  touch();
  session = { signer, api, me, domain: boot.domain, deployment: boot.deployment, assets };
  session.timer = setInterval(() => {
    if (session && Date.now() - lastActivity > IDLE_MINUTES * 60_000) {
      signOut(`Your session expired after ${IDLE_MINUTES} minutes without activity, and your key was forgotten. Sign in again to go on.`);
    }
  }, 1000);
  const who = document.getElementById('who');
  who.replaceChildren(
    h('span', {}, me.name || 'Signed in', ' · ', h('span', { class: 'addr', title: me.address }, me.address)),
    h('span', {}, me.roles.map((r) => r.replace('_', ' ')).join(', ')),
    h('span', { class: 'muted' }, `(${signer.kind})`),
    h('button', { type: 'button', onclick: () => signOut('You signed out; your key was forgotten.') }, 'Sign out'),
  );
  const nav = document.getElementById('nav');
  nav.replaceChildren(...PAGES.filter(allowed).map((p) => h('a', { href: p.hash, 'data-page': p.hash.slice(2) }, p.label)));
  nav.hidden = false;
  const first = PAGES.find(allowed);
  if (!location.hash || !PAGES.some((p) => location.hash.startsWith(p.hash))) location.hash = first.hash;
  else route();
}

/** The context a page gets: it draws only while it is the current page. */
function ctx() {
  const mine = ++view;
  const current = () => session !== null && mine === view;
  return {
    ...session,
    go: (hash) => (location.hash = hash),
    isCurrent: current,
    show: (...c) => current() && show(...c),
    refresh: (...c) => current() && refresh(...c),
  };
}

async function route() {
  if (!session) return;
  alert('');
  session.stop?.();
  session.stop = null;
  const hash = location.hash || '#/status';
  let page = PAGES.find((p) => hash === p.hash);
  let render = page?.render;
  if (hash.startsWith('#/approve/')) {
    page = PAGES[0];
    render = (c) => approvePage(c, hash.slice('#/approve/'.length));
  }
  for (const a of document.querySelectorAll('#nav a')) {
    a.toggleAttribute('aria-current', a.getAttribute('href') === (page?.hash || ''));
    if (a.getAttribute('href') === page?.hash) a.setAttribute('aria-current', 'page');
  }
  if (!page || !allowed(page)) {
    show(h('h1', {}, 'Not available'), h('p', {}, 'This page is not for your role.'));
    return;
  }
  document.body.dataset.page = hash.slice(2).split('/')[0];
  const c = ctx();
  try {
    const stop = await render(c);
    if (typeof stop === 'function') {
      if (c.isCurrent()) session.stop = stop;
      else stop();
    }
  } catch (e) {
    if (c.isCurrent()) alert(explain(e));
  }
}

function signInPage(message) {
  const file = h('input', { type: 'file', id: 'keystore', accept: '.json,application/json', required: true });
  const password = h('input', { type: 'password', id: 'password', autocomplete: 'current-password', required: true });
  const status = h('p', { class: 'muted', 'aria-live': 'polite', id: 'signin-status' });
  const submit = h('button', { type: 'submit', id: 'signin' }, 'Sign in');
  const form = h('form', { class: 'card', id: 'keystore-form' },
    h('h2', {}, 'With your keystore file'),
    h('p', { class: 'hint' }, 'The file is opened here with your password; neither the password nor the key leaves this tab.'),
    h('label', { for: 'keystore' }, 'Keystore file (keystore v3 JSON)'), file,
    h('label', { for: 'password' }, 'Password'), password,
    h('div', { class: 'actions' }, submit), status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    alert('');
    const done = busy(submit, 'Opening…');
    try {
      const text = await file.files[0]?.text();
      if (!text) throw new Error('choose your keystore file first');
      status.textContent = 'Opening the keystore (this takes a few seconds)…';
      const key = await decryptKeystore(text, password.value);
      password.value = '';
      status.textContent = 'Signing in…';
      await start(keystoreSigner(key));
    } catch (e) {
      status.textContent = '';
      alert(e instanceof WrongPassword ? `Wrong password: ${e.message}.` : explain(e));
      password.value = '';
      password.focus();
    } finally {
      done();
    }
  });
  const connect = h('button', { type: 'button', id: 'connect-wallet', class: 'secondary' }, 'Connect browser wallet');
  connect.addEventListener('click', async () => {
    alert('');
    const done = busy(connect, 'Waiting for the wallet…');
    try {
      await start(await walletSigner(window.ethereum));
    } catch (e) {
      alert(explain(e));
    } finally {
      done();
    }
  });
  const d = boot?.deployment;
  show(
    h('div', { class: 'signin' },
      h('h1', {}, 'Sign in'),
      message ? h('div', { class: 'notice warn', role: 'status', id: 'signin-message' }, message) : null,
      d ? h('p', { class: 'hint' }, 'Deployment ', h('code', {}, d.deploymentId), ` on chain ${d.chainId}. Compare it with what your administrator gave you.`) : null,
      form,
      h('div', { class: 'card' },
        h('h2', {}, 'With a browser wallet'),
        h('p', { class: 'hint' }, 'A wallet extension (for example backed by a hardware device) signs each request with eth_signTypedData_v4; it shows you every field it signs.'),
        h('div', { class: 'actions' }, connect))),
  );
}

async function init() {
  try {
    const [deployment, catalogue] = await Promise.all([publicGet('/v1/deployment'), publicGet('/v1/typed-data')]);
    boot = { deployment, domain: checkCatalogue(catalogue, deployment) };
    signInPage(null);
  } catch (e) {
    show(h('h1', {}, 'The console cannot start'), h('p', {}, 'It could not read the deployment from the gateway. Reload the page to try again.'));
    alert(explain(e));
  }
}

window.addEventListener('hashchange', route);
for (const ev of ['click', 'keydown', 'pointerdown']) window.addEventListener(ev, touch, { passive: true });
// Closing or leaving the tab forgets the key (bfcache included).
window.addEventListener('pagehide', () => {
  if (session) signOut('');
});
init();
