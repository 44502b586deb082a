// Approver: what waits for me, and one transfer to approve or reject, with
// every check of checks.js run in this browser before anything is signed.
import { h, table, fields, alert, busy, when, stateCell } from '../ui.js';
import { explain } from '../api.js';
import { verifiedTransfer, sameAsGateway } from '../checks.js';
import { typedData } from '../typed.js';
import { amountView, amountText, personLabel } from './common.js';
import { getAddress } from 'viem';

export async function approvalsPage(ctx) {
  ctx.show(h('h1', {}, 'Waiting for my approval'), h('p', { class: 'muted' }, 'Loading…'));
  const pending = await ctx.api.get('/v1/approvals/pending');
  const rows = pending.map((t) => h('tr', { 'data-transfer': t.id },
    h('td', {}, amountText(ctx, t.asset, t.amount)),
    h('td', { class: 'mono' }, t.to),
    h('td', { class: 'mono' }, t.applicant),
    h('td', {}, `level ${t.openLevel}`),
    h('td', {}, when(t.createdAt)),
    h('td', {}, h('a', { href: `#/approve/${t.id}`, class: 'review' }, 'Review'))));
  ctx.show(h('h1', {}, 'Waiting for my approval'),
    pending.length ? table(['Amount', 'Destination', 'Applicant', 'Open level', 'Applied', ''], rows)
      : h('p', { class: 'notice', id: 'nothing-pending' }, 'Nothing waits for you.'),
    h('p', { class: 'hint' }, 'The amounts in this list are as the gateway reports them; Review checks every signature in this browser before you can sign.'));
}

/** Whether `to` received a transfer before (in the latest 500 the gateway lists). */
async function seenBefore(ctx, to, id) {
  try {
    const list = await ctx.api.get('/v1/transfers?limit=500');
    return list.some((t) => t.id !== id && getAddress(t.to) === to && ['broadcast', 'confirmed'].includes(t.status.state));
  } catch {
    return true; // unknown: no badge rather than a false one
  }
}

export async function approvePage(ctx, id) {
  ctx.show(h('h1', {}, 'Review a transfer'), h('p', { class: 'muted' }, 'Checking what the gateway shows…'));
  const t = await ctx.api.get(`/v1/transfers/${id}`);
  let v;
  let gatewayTd;
  try {
    const flowOut = await ctx.api.get(`/v1/flows/${t.request.flowHash}`);
    v = await verifiedTransfer(ctx.domain, id, t, flowOut, getAddress(ctx.me.address));
    gatewayTd = await ctx.api.get(`/v1/transfers/${id}/typed-data`);
    sameAsGateway(typedRequest(ctx, v), gatewayTd.request, 'the request');
    if (v.approval) sameAsGateway(v.approval, gatewayTd.approval, `the level ${v.level} approval`);
  } catch (e) {
    if (e.name !== 'Untrusted') throw e;
    ctx.show(h('h1', {}, 'Review a transfer'),
      h('div', { class: 'notice bad', role: 'alert', id: 'refused' }, explain(e)),
      h('p', {}, h('a', { href: '#/approvals' }, 'Back to the list')));
    return;
  }
  const r = v.request;
  const isNew = !(await seenBefore(ctx, r.to, id));
  const levels = t.levels.map((l) => {
    const checked = v.checkedLevels.find((c) => c.level === l.level);
    const open = l.level === v.level;
    return h('div', { class: `level ${checked ? 'done' : open ? 'open' : ''}` },
      h('strong', {}, `Level ${l.level}: ${l.name}`),
      h('div', {}, `${l.signatures.length} of ${l.threshold} signatures`),
      checked ? h('div', { class: 'badge ok' }, 'signatures checked here') : open ? h('div', { class: 'muted' }, 'open: waiting for approvals') : h('div', { class: 'muted' }, 'later'),
      h('ul', {}, (checked ? checked.signers : l.signatures.map((s) => s.approver)).map((a) => h('li', { class: 'mono' }, a))));
  });
  const reason = h('textarea', { id: 'reason', maxlength: 1000 });
  const approve = h('button', { type: 'button', id: 'approve' }, `Approve at level ${v.level}`);
  const reject = h('button', { type: 'button', id: 'reject', class: 'danger' }, 'Reject');
  const result = h('div', { 'aria-live': 'polite', id: 'result' });
  const collecting = t.status.state === 'collecting' && v.level;
  approve.addEventListener('click', async () => {
    alert('');
    const done = busy(approve, 'Signing…');
    try {
      const signature = await ctx.signer.sign(v.approval);
      const after = await ctx.api.post(`/v1/transfers/${id}/approvals`, { level: v.level, signature });
      result.replaceChildren(h('div', { class: 'notice ok', id: 'approved' }, `Approved at level ${v.level}. The transfer is now ${after.status.state.replaceAll('_', ' ')}.`));
      approve.remove();
      reject.remove();
    } catch (e) {
      done();
      alert(explain(e));
    }
  });
  reject.addEventListener('click', async () => {
    alert('');
    if (!reason.value.trim()) {
      alert('Write the reason for the applicant first.');
      reason.focus();
      return;
    }
    const done = busy(reject, 'Rejecting…');
    try {
      await ctx.api.post(`/v1/transfers/${id}/reject`, { reason: reason.value.trim() });
      result.replaceChildren(h('div', { class: 'notice', id: 'rejected' }, 'Rejected; the applicant sees your reason.'));
      approve.remove();
      reject.remove();
    } catch (e) {
      done();
      alert(explain(e));
    }
  });
  ctx.show(h('h1', {}, 'Review a transfer'),
    h('div', { class: 'notice ok', id: 'verified' }, 'Checked in this browser: the request hashes to this transfer id, the applicant signed it, the flow is the one it names, and every signature below your level is by a distinct approver of its level.'),
    h('section', { class: 'card' }, fields([
      ['Amount', amountView(ctx, r.asset, r.amount)],
      ['Destination', h('span', {}, h('code', { id: 'destination' }, r.to), isNew ? h('span', { class: 'badge new', id: 'new-destination' }, 'new to this deployment') : null)],
      ['Applicant', h('code', {}, personLabel(ctx, r.applicant))],
      ['Flow', `${v.flow.name} (${r.flowHash})`],
      ['Fee cap', amountView(ctx, '0x0000000000000000000000000000000000000000', r.maxFee)],
      ['Applied', when(r.timestamp)],
      ['Transfer id', h('code', {}, id)],
      ['Status', h('span', {}, stateCell(t.status.state),
        t.status.detail ? h('div', { class: 'status-detail', id: 'status-detail' }, t.status.detail) : null)],
    ])),
    h('h2', {}, 'Progress per level'), h('div', { class: 'progress' }, levels),
    collecting ? h('section', { class: 'card' },
      h('h2', {}, 'Your decision'),
      h('p', { class: 'hint' }, `Approving signs the EIP-712 Approval of level ${v.level}: the request above, the level, and the signatures below it.`),
      h('label', { for: 'reason' }, 'Reason, if you reject ', h('span', { class: 'hint' }, '(the applicant reads it)')), reason,
      h('div', { class: 'actions' }, approve, reject), result) : h('p', { class: 'muted' }, 'This transfer no longer collects approvals.'),
    h('p', {}, h('a', { href: '#/approvals' }, 'Back to the list')));
}

function typedRequest(ctx, v) {
  return typedData(ctx.domain, 'TransferRequest', v.request);
}
