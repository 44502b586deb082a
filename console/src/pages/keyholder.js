// Key holder: flows to authorize (the whole flow shown, its hash checked
// here), pending governance actions of every kind to co-sign (each field
// that is signed shown after its hash is checked here), the address book
// (list a destination, remove one), and pause / resume.
import { h, fields, alert, busy, table } from '../ui.js';
import { explain } from '../api.js';
import { typedData, digest, Untrusted, parseAddress } from '../typed.js';
import { verifiedFlow, sameAsGateway } from '../checks.js';
import { amountText } from './common.js';
import { getAddress } from 'viem';

function flowView(ctx, f) {
  return h('div', {},
    fields([['Name', f.name], ['Employees (may apply)', h('ul', {}, f.employees.map((a) => h('li', { class: 'mono' }, a)))],
      ['Destinations', f.addressBookOnly ? 'only those in the address book' : 'any the other rules allow']]),
    h('h3', {}, 'Approval levels'),
    table(['Level', 'Approvers', 'Required'], f.levels.map((l, i) => h('tr', {}, h('td', {}, `${i + 1}. ${l.name}`),
      h('td', {}, h('ul', {}, l.approvers.map((a) => h('li', { class: 'mono' }, a)))), h('td', {}, `${l.threshold} of ${l.approvers.length}`)))),
    h('h3', {}, 'Limits'),
    table(['Asset', 'Per transfer', 'Per period', 'Period', 'Fee cap'], f.limits.map((l) => h('tr', {},
      h('td', {}, amountText(ctx, l.asset, '0').replace(/^0 /, '')), h('td', {}, amountText(ctx, l.asset, l.perTransfer)),
      h('td', {}, amountText(ctx, l.asset, l.perPeriod)), h('td', {}, `${Math.round(Number(l.periodSeconds) / 3600)} h`),
      h('td', {}, amountText(ctx, '0x0000000000000000000000000000000000000000', l.maxFee))))));
}

async function authorizeCard(ctx, fo, me) {
  let flow;
  try {
    flow = verifiedFlow(ctx.domain, fo, fo.hash);
  } catch (e) {
    return h('section', { class: 'card' }, h('div', { class: 'notice bad', role: 'alert' }, explain(e)));
  }
  const button = h('button', { type: 'button', class: 'authorize', 'data-flow': fo.hash }, 'Authorize this flow');
  const result = h('div', { 'aria-live': 'polite' });
  button.addEventListener('click', async () => {
    alert('');
    const done = busy(button, 'Signing…');
    try {
      const ours = typedData(ctx.domain, 'FlowAuthorization', { flowHash: fo.hash.toLowerCase(), enable: true });
      const theirs = await ctx.api.get(`/v1/flows/${fo.hash}/typed-data?enable=true`);
      if (digest(theirs.flow) !== fo.hash.toLowerCase()) throw new Untrusted('the gateway\'s typed data of the flow does not hash to it');
      sameAsGateway(ours, theirs.authorization, 'the authorization');
      const signature = await ctx.signer.sign(ours);
      await ctx.api.post(`/v1/flows/${fo.hash}/authorizations`, { enable: true, signature });
      result.replaceChildren(h('div', { class: 'notice ok', id: 'authorized' }, 'Your authorization is on its way to the chain.'));
      button.remove();
    } catch (e) {
      done();
      alert(explain(e));
    }
  });
  const enabled = fo.enabledBy.map((a) => getAddress(a));
  return h('section', { class: 'card', 'data-flow': fo.hash },
    h('h2', {}, `Flow "${flow.name}"`),
    h('p', { class: 'hint' }, 'Hash ', h('code', {}, fo.hash), ` checked here. Status: ${fo.status}. Authorized by ${enabled.length} key holder(s).`),
    flowView(ctx, flow),
    enabled.includes(me) ? h('p', { class: 'notice ok' }, 'You authorized this flow.') : h('div', { class: 'actions' }, button),
    result);
}

async function cosignRow(ctx, g, me) {
  const signed = g.signers.map((a) => getAddress(a)).includes(me);
  const button = h('button', { type: 'button', class: 'secondary' }, 'Review and sign');
  const cell = h('td', {}, signed ? 'signed by you' : g.relay ? 'queued' : button);
  button.addEventListener('click', async () => {
    alert('');
    const done = busy(button, 'Checking…');
    try {
      const td = await ctx.api.get(`/v1/governance/${g.hash}/typed-data`);
      const ours = typedData(ctx.domain, td.typedData.primaryType, td.typedData.message);
      if (digest(ours) !== g.hash.toLowerCase()) throw new Untrusted(`the action shown does not hash to ${g.hash}`);
      sameAsGateway(ours, td.typedData, 'the action');
      const ok = h('button', { type: 'button' }, `Sign ${ours.primaryType}`);
      ok.addEventListener('click', async () => {
        const d2 = busy(ok, 'Signing…');
        try {
          const signature = await ctx.signer.sign(ours);
          await ctx.api.post('/v1/governance', { action: td.action, signature });
          cell.replaceChildren('signed by you');
        } catch (e) {
          d2();
          alert(explain(e));
        }
      });
      cell.replaceChildren(fields(Object.entries(ours.message).map(([k, v]) => [k, String(v)])), ok);
    } catch (e) {
      done();
      alert(explain(e));
    }
  });
  return h('tr', {}, h('td', {}, g.description), h('td', {}, g.needs.replaceAll('_', ' ')), h('td', {}, String(g.signers.length)), cell);
}

async function governance(ctx, primaryType, message, button) {
  alert('');
  const done = busy(button, 'Signing…');
  try {
    const ours = typedData(ctx.domain, primaryType, message);
    const drafted = await ctx.api.post('/v1/governance/typed-data', { primaryType, message });
    sameAsGateway(ours, drafted.typedData, primaryType);
    if (drafted.hash.toLowerCase() !== digest(ours)) throw new Untrusted('the gateway names the action by another hash');
    const signature = await ctx.signer.sign(ours);
    const out = await ctx.api.post('/v1/governance', { action: drafted.action, signature });
    done();
    return out;
  } catch (e) {
    done();
    throw e;
  }
}

/** The address book (as the verified chain holds it), a form to list a destination, a remove button per entry. */
function addressBookCard(ctx, status, flows) {
  const book = status.addressBook || [];
  const result = h('div', { 'aria-live': 'polite', id: 'book-result' });
  const nonce = () => crypto.getRandomValues(new Uint32Array(1))[0];
  const zero = `0x${'0'.repeat(64)}`;
  const rows = book.map((e) => {
    const remove = h('button', { type: 'button', class: 'secondary', 'data-remove': e.address }, 'Remove');
    remove.addEventListener('click', async () => {
      try {
        await governance(ctx, 'AddressBookEntry', { destination: getAddress(e.address), label: '', flowHash: zero, listed: false, nonce: nonce() }, remove);
        result.replaceChildren(h('div', { class: 'notice ok' }, `Removal of ${e.address} signed: in effect once recorded (one key holder suffices).`));
      } catch (err) {
        alert(explain(err));
      }
    });
    const flow = e.flow ? (flows.find((f) => f.hash.toLowerCase() === e.flow.toLowerCase())?.flow.name || e.flow) : 'every flow';
    return h('tr', { 'data-book': e.address }, h('td', { class: 'mono' }, e.address), h('td', {}, e.label), h('td', {}, flow), h('td', {}, remove));
  });
  const address = h('input', { id: 'book-address', autocomplete: 'off', spellcheck: 'false', placeholder: '0x…' });
  const label = h('input', { id: 'book-label', autocomplete: 'off' });
  const scope = h('select', { id: 'book-flow' }, h('option', { value: zero }, 'every flow'),
    flows.filter((f) => ['notarized', 'authorized', 'active'].includes(f.status)).map((f) => h('option', { value: f.hash.toLowerCase() }, f.flow.name)));
  const add = h('button', { type: 'button', id: 'book-add' }, 'Propose listing');
  add.addEventListener('click', async () => {
    try {
      if (!label.value.trim()) throw new Error('Give the destination a label (everyone reads it).');
      const message = { destination: parseAddress(address.value), label: label.value.trim(), flowHash: scope.value, listed: true, nonce: nonce() };
      await governance(ctx, 'AddressBookEntry', message, add);
      result.replaceChildren(h('div', { class: 'notice ok', id: 'book-proposed' }, 'Listing signed: every key holder must sign it (see pending governance actions).'));
    } catch (err) {
      alert(explain(err));
    }
  });
  return h('section', { class: 'card', id: 'address-book' },
    h('p', {}, 'Flows marked "only those in the address book" pay nothing else. Listing a destination needs every key holder; removing needs one.'),
    rows.length ? table(['Address', 'Label', 'For', ''], rows) : h('p', { class: 'notice', id: 'book-empty' }, 'The address book is empty.'),
    h('label', { for: 'book-address' }, 'Destination address'), address,
    h('label', { for: 'book-label' }, 'Label'), label,
    h('label', { for: 'book-flow' }, 'For'), scope,
    h('div', { class: 'actions' }, add), result);
}

export async function keyHolderPage(ctx) {
  ctx.show(h('h1', {}, 'Key holder'), h('p', { class: 'muted' }, 'Loading…'));
  const me = getAddress(ctx.me.address);
  const [flows, actions, status] = await Promise.all([ctx.api.get('/v1/flows'), ctx.api.get('/v1/governance?pending=true'), ctx.api.get('/v1/status')]);
  const toAuthorize = flows.filter((f) => ['notarized', 'authorized'].includes(f.status) && !f.enabledBy.map((a) => getAddress(a)).includes(me));
  const cards = await Promise.all(toAuthorize.map((f) => authorizeCard(ctx, f, me)));
  const pending = actions.filter((g) => !g.relay);
  const rows = await Promise.all(pending.map((g) => cosignRow(ctx, g, me)));
  const reason = h('input', { id: 'pause-reason', autocomplete: 'off' });
  const pause = h('button', { type: 'button', id: 'pause', class: 'danger' }, 'Pause all transfers');
  const resume = h('button', { type: 'button', id: 'resume', class: 'secondary' }, 'Propose resuming');
  const pauseResult = h('div', { 'aria-live': 'polite', id: 'pause-result' });
  const nonce = () => crypto.getRandomValues(new Uint32Array(1))[0];
  pause.addEventListener('click', async () => {
    if (!reason.value.trim()) {
      alert('Write why you pause (every key holder and the auditors read it).');
      reason.focus();
      return;
    }
    try {
      await governance(ctx, 'PauseTransfers', { paused: true, reason: reason.value.trim(), nonce: nonce() }, pause);
      pauseResult.replaceChildren(h('div', { class: 'notice ok', id: 'paused' }, 'Pause signed and on its way to the chain: no transfer is signed once it is recorded.'));
    } catch (e) {
      alert(explain(e));
    }
  });
  resume.addEventListener('click', async () => {
    try {
      await governance(ctx, 'PauseTransfers', { paused: false, reason: reason.value.trim() || 'resume', nonce: nonce() }, resume);
      pauseResult.replaceChildren(h('div', { class: 'notice' }, 'Your signature to resume is recorded; every key holder must sign it.'));
    } catch (e) {
      alert(explain(e));
    }
  });
  ctx.show(h('h1', {}, 'Key holder'),
    h('h2', {}, 'Flows to authorize'),
    cards.length ? cards : h('p', { class: 'notice', id: 'no-flows' }, 'No flow waits for your authorization.'),
    h('h2', {}, 'Pending governance actions'),
    rows.length ? table(['Action', 'Needs', 'Signatures', ''], rows) : h('p', { class: 'notice' }, 'None pending.'),
    h('h2', {}, 'Address book'),
    addressBookCard(ctx, status, flows),
    h('h2', {}, 'Pause'),
    h('section', { class: 'card' },
      status.paused ? h('p', { class: 'notice bad' }, `Transfers are paused: ${status.paused}`) : h('p', {}, 'Transfers are running. Any one key holder can pause them at once; resuming needs every key holder.'),
      h('label', { for: 'pause-reason' }, 'Reason'), reason,
      h('div', { class: 'actions' }, pause, resume), pauseResult));
}
