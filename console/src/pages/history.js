// Auditor (and admins, key holders): the transfers' history, and a verify
// button that checks the exported history in this browser (audit.js).
import { h, table, alert, busy, when, stateCell } from '../ui.js';
import { explain } from '../api.js';
import { verifyExport } from '../audit.js';
import { amountText, txLink } from './common.js';

export async function historyPage(ctx) {
  ctx.show(h('h1', {}, 'History and audit'), h('p', { class: 'muted' }, 'Loading…'));
  const stateSel = h('select', { id: 'state-filter' },
    h('option', { value: '' }, 'every state'), h('option', { value: 'collecting' }, 'collecting approvals'),
    h('option', { value: 'submitting' }, 'sent to the chain'), h('option', { value: 'rejected' }, 'rejected by an approver'));
  const list = h('div', { id: 'history-list' });
  const load = async () => {
    const q = stateSel.value ? `&state=${stateSel.value}` : '';
    const ts = await ctx.api.get(`/v1/transfers?limit=200${q}`);
    list.replaceChildren(ts.length ? table(['Applied', 'Applicant', 'Amount', 'Destination', 'State', 'Public transaction'],
      ts.map((t) => h('tr', { 'data-transfer': t.id }, h('td', {}, when(t.createdAt)), h('td', { class: 'mono' }, t.applicant),
        h('td', {}, amountText(ctx, t.asset, t.amount)), h('td', { class: 'mono' }, t.to), h('td', {}, stateCell(t.status.state),
          t.status.detail ? h('div', { class: 'status-detail', 'data-detail': '' }, t.status.detail) : null),
        h('td', {}, txLink(t.status.txHash))))) : h('p', { class: 'notice' }, 'No transfers.'));
  };
  stateSel.addEventListener('change', () => load().catch((e) => alert(explain(e))));
  const verify = h('button', { type: 'button', id: 'verify' }, 'Verify the history');
  const result = h('div', { 'aria-live': 'polite', id: 'verify-result' });
  verify.addEventListener('click', async () => {
    alert('');
    const done = busy(verify, 'Verifying…');
    result.replaceChildren(h('p', { class: 'muted' }, 'Downloading the history…'));
    try {
      let from = 1;
      let genesis = null;
      const blocks = [];
      for (;;) {
        const page = await ctx.api.get(`/v1/audit/export?from=${from}&limit=1000`);
        genesis ??= page.genesis;
        blocks.push(...page.blocks);
        if (!page.next) break;
        from = page.next;
      }
      const r = await verifyExport(ctx.domain, genesis, blocks, (n) => {
        if (n % 50 === 0) result.replaceChildren(h('p', { class: 'muted' }, `Checked ${n} of ${blocks.length} blocks…`));
      });
      result.replaceChildren(h('div', { class: 'notice ok', id: 'verified-history' },
        h('strong', {}, `The history verifies: ${r.blocks} blocks, ${r.entries} entries. `),
        'Each block follows its parent, its entries hash to its Merkle root, and a node account of the genesis sealed it. ',
        'For the replay of every decision (state hashes and quorum certificates), export it and run ', h('code', {}, 'boxctl audit verify'), '.'));
    } catch (e) {
      result.replaceChildren(h('div', { class: 'notice bad', role: 'alert' }, h('strong', {}, 'The history does not verify: '), explain(e)));
    } finally {
      done();
    }
  });
  const canExport = ctx.me.roles.some((r) => ['auditor', 'admin', 'key_holder'].includes(r));
  ctx.show(h('h1', {}, 'History and audit'),
    canExport ? h('section', { class: 'card' }, h('h2', {}, 'Verify'),
      h('p', { class: 'hint' }, 'Downloads every sealed block and checks it here, in this browser, against the deployment\'s genesis.'),
      h('div', { class: 'actions' }, verify), result) : null,
    h('h2', {}, 'Transfers'), h('label', { for: 'state-filter' }, 'Show'), stateSel, list);
  await load();
}
