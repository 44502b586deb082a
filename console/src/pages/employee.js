// Employee: apply (asset, destination, amount in units, fee cap) and follow
// my transfers to the public transaction hash.
import { h, table, alert, busy, fields, parseUnits, when, stateCell, formatUnits } from '../ui.js';
import { explain } from '../api.js';
import { typedData, parseAddress, ETH } from '../typed.js';
import { sameAsGateway } from '../checks.js';
import { amountText, amountView, assetOf, txLink } from './common.js';
import { getAddress, bytesToHex } from 'viem';

const DEFAULT_MAX_FEE = '0.01';

export async function applyPage(ctx) {
  ctx.show(h('h1', {}, 'Apply for a transfer'), h('p', { class: 'muted' }, 'Loading…'));
  const me = getAddress(ctx.me.address);
  const flows = (await ctx.api.get('/v1/flows')).filter((f) => f.status === 'active' && f.flow.employees.some((e) => getAddress(e) === me));
  if (!flows.length) {
    ctx.show(h('h1', {}, 'Apply for a transfer'), h('p', { class: 'notice' }, 'No active flow names you as an employee; ask an admin.'));
    return;
  }
  const flowSel = h('select', { id: 'flow' }, flows.map((f) => h('option', { value: f.hash }, f.flow.name)));
  const assetSel = h('select', { id: 'asset' });
  const limitHint = h('p', { class: 'hint', id: 'limit-hint' });
  const book = h('div', { id: 'flow-book' });
  const addressBook = flows.some((f) => f.flow.addressBookOnly) ? ((await ctx.api.get('/v1/status')).addressBook || []) : [];
  const showBook = () => {
    const f = flows.find((x) => x.hash === flowSel.value);
    if (!f.flow.addressBookOnly) {
      book.replaceChildren();
      return;
    }
    const listed = addressBook.filter((e) => !e.flow || e.flow.toLowerCase() === f.hash.toLowerCase());
    book.replaceChildren(h('p', { class: 'hint' }, 'This flow pays only destinations in the address book:'),
      listed.length ? table(['Address', 'Label'], listed.map((e) => h('tr', { 'data-book': e.address },
        h('td', { class: 'mono' }, e.address), h('td', {}, e.label))))
        : h('p', { class: 'notice' }, 'None is listed for it yet; ask the key holders to list the destination.'));
  };
  const fillAssets = () => {
    const f = flows.find((x) => x.hash === flowSel.value);
    assetSel.replaceChildren(...f.flow.limits.map((l) => assetOf(ctx, l.asset)).filter(Boolean).map((a) => h('option', { value: a.asset }, a.symbol)));
    showLimit();
    showBook();
  };
  const showLimit = () => {
    const f = flows.find((x) => x.hash === flowSel.value);
    const l = f.flow.limits.find((x) => getAddress(x.asset) === getAddress(assetSel.value || ETH));
    limitHint.textContent = l ? `This flow allows at most ${amountText(ctx, l.asset, l.perTransfer)} per transfer, ${amountText(ctx, l.asset, l.perPeriod)} per ${Math.round(l.periodSeconds / 3600)} h, and a fee cap of at most ${amountText(ctx, ETH, l.maxFee)}.` : '';
  };
  flowSel.addEventListener('change', fillAssets);
  assetSel.addEventListener('change', showLimit);
  fillAssets();
  const to = h('input', { id: 'to', autocomplete: 'off', spellcheck: 'false', placeholder: '0x…', required: true });
  const amount = h('input', { id: 'amount', inputmode: 'decimal', autocomplete: 'off', required: true });
  const fee = h('input', { id: 'max-fee', inputmode: 'decimal', value: DEFAULT_MAX_FEE, required: true });
  const review = h('button', { type: 'submit', id: 'review' }, 'Review');
  const confirm = h('div', { id: 'confirm' });
  const form = h('form', { class: 'card' },
    h('div', { class: 'row' }, h('div', {}, h('label', { for: 'flow' }, 'Flow'), flowSel), h('div', {}, h('label', { for: 'asset' }, 'Asset'), assetSel)),
    limitHint,
    book,
    h('label', { for: 'to' }, 'Destination address ', h('span', { class: 'hint' }, '(EIP-55: a mixed-case address must have the right checksum)')), to,
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'amount' }, 'Amount ', h('span', { class: 'hint' }, '(whole units, e.g. 1.5)')), amount),
      h('div', {}, h('label', { for: 'max-fee' }, 'Fee cap in ETH ', h('span', { class: 'hint' }, '(the most this transfer may spend on fees)')), fee)),
    h('div', { class: 'actions' }, review));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    alert('');
    try {
      const asset = assetOf(ctx, assetSel.value);
      const request = {
        requestId: bytesToHex(crypto.getRandomValues(new Uint8Array(32))),
        flowHash: flowSel.value.toLowerCase(),
        applicant: me,
        asset: getAddress(asset.asset),
        to: parseAddress(to.value),
        amount: parseUnits(amount.value, asset.decimals).toString(),
        maxFee: parseUnits(fee.value, 18).toString(),
        chainId: ctx.domain.chainId,
        timestamp: 0,
      };
      if (BigInt(request.amount) === 0n) throw new Error('the amount must be more than zero');
      const sign = h('button', { type: 'button', id: 'sign-apply' }, 'Sign and apply');
      sign.addEventListener('click', () => submit(ctx, request, sign));
      confirm.replaceChildren(h('section', { class: 'card', 'aria-labelledby': 'confirm-h' },
        h('h2', { id: 'confirm-h' }, 'You are about to sign'),
        fields([['Amount', amountView(ctx, request.asset, request.amount)], ['Destination', h('code', {}, request.to)],
          ['Fee cap', amountView(ctx, ETH, request.maxFee)], ['Flow', flowSel.selectedOptions[0].textContent],
          ['Chain', String(request.chainId)]]),
        h('div', { class: 'actions' }, sign, h('button', { type: 'button', class: 'secondary', onclick: () => confirm.replaceChildren() }, 'Change'))));
      sign.focus();
    } catch (e) {
      alert(explain(e));
    }
  });
  ctx.show(h('h1', {}, 'Apply for a transfer'), form, confirm);
}

async function submit(ctx, draft, button) {
  alert('');
  const done = busy(button, 'Signing…');
  try {
    // Dated when signed (the gateway refuses an application that is not dated now).
    const request = { ...draft, timestamp: Math.floor(Date.now() / 1000) };
    const ours = typedData(ctx.domain, 'TransferRequest', request);
    const theirs = await ctx.api.post('/v1/typed-data/transfer-request', { request });
    sameAsGateway(ours, theirs, 'the request');
    const signature = await ctx.signer.sign(ours);
    const t = await ctx.api.post('/v1/transfers', { request, signature });
    alert(`Applied: transfer ${t.id} waits for level 1.`, 'info');
    ctx.go('#/mine');
  } catch (e) {
    done();
    alert(explain(e));
  }
}

const FINAL = ['confirmed', 'rejected', 'refused', 'failed', 'refused_by_chain', 'rejected_by_approver'];

export async function minePage(ctx) {
  let timer = null;
  let stopped = false;
  let first = true;
  const render = async () => {
    const list = await ctx.api.get(`/v1/transfers?applicant=${ctx.me.address}&limit=100`);
    if (stopped) return;
    const rows = list.map((t) => h('tr', { 'data-transfer': t.id, 'data-state': t.status.state },
      h('td', {}, when(t.createdAt)), h('td', {}, amountText(ctx, t.asset, t.amount)), h('td', { class: 'mono' }, t.to),
      h('td', {}, stateCell(t.status.state), t.openLevel ? ` (level ${t.openLevel})` : '', t.status.reason ? h('div', { class: 'muted' }, t.status.reason) : null),
      h('td', {}, txLink(t.status.txHash))));
    (first ? ctx.show : ctx.refresh)(h('h1', {}, 'My transfers'),
      list.length ? table(['Applied', 'Amount', 'Destination', 'State', 'Public transaction'], rows) : h('p', { class: 'notice' }, 'You have not applied for any transfer yet.'),
      h('p', { class: 'hint' }, 'Updated every few seconds while this page is open.'));
    first = false;
    if (list.some((t) => !FINAL.includes(t.status.state))) timer = setTimeout(() => render().catch((e) => alert(explain(e))), 3000);
  };
  await render();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
