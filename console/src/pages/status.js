// Everyone: the cluster, the signer, the wallet, transfers by state, and the
// outflow per asset over the last 30 days against the flows' period limits.
import { h, table, fields, formatUnits } from '../ui.js';
import { explain } from '../api.js';
import { outflowChart } from '../chart.js';
import { getAddress } from 'viem';

const SPENT = ['submitted', 'notarized', 'broadcast', 'confirmed', 'queued', 'collecting'];

async function maybe(p) {
  try {
    return { ok: await p };
  } catch (e) {
    return { error: e };
  }
}

function unavailable(r) {
  return h('p', { class: 'muted' }, r.error?.status === 403 ? 'Not visible to your role.' : explain(r.error));
}

export async function statusPage(ctx) {
  ctx.show(h('h1', {}, 'Status'), h('p', { class: 'muted' }, 'Loading…'));
  const [status, cluster, signer, wallet, transfers, flows] = await Promise.all([
    maybe(ctx.api.get('/v1/status')), maybe(ctx.api.get('/v1/cluster')), maybe(ctx.api.get('/v1/ceremony/signer')),
    maybe(ctx.api.get('/v1/wallet')), maybe(ctx.api.get('/v1/transfers?limit=500')), maybe(ctx.api.get('/v1/flows')),
  ]);
  const s = status.ok;
  const paused = s?.paused ? h('div', { class: 'notice bad', role: 'status' }, h('strong', {}, 'Transfers are paused: '), s.paused) : null;
  const gw = h('section', { class: 'card', 'aria-labelledby': 'st-gw' }, h('h2', { id: 'st-gw' }, 'Gateway and private chain'),
    s ? fields([['Verified height', `${s.verifiedHeight} of ${s.latestHeight}`], ['Waiting for the chain', String(s.outboxPending)],
      ['Transfers', s.paused ? 'paused' : 'running'], ['Assets', s.assets.join(', ')]]) : unavailable(status));
  const sg = signer.ok;
  const sig = h('section', { class: 'card', 'aria-labelledby': 'st-signer' }, h('h2', { id: 'st-signer' }, 'Signer'),
    sg ? fields([['State', h('strong', {}, sg.state.replaceAll('_', ' '))], ['Hot wallet', h('code', {}, sg.wallet)],
      ['Key holder devices', `${sg.devices.length} of ${sg.holders}`], ['Announced', new Date(sg.time * 1000).toISOString().slice(0, 19) + 'Z']]) : unavailable(signer));
  const w = wallet.ok;
  const bal = h('section', { class: 'card', 'aria-labelledby': 'st-wallet' }, h('h2', { id: 'st-wallet' }, 'Wallet balances'),
    w ? table([{ label: 'Asset' }, { label: 'Balance', num: true }], w.balances.map((b) => h('tr', {}, h('td', {}, b.symbol), h('td', { class: 'num' }, `${formatUnits(b.balance, b.decimals)} ${b.symbol}`))))
      : unavailable(wallet));
  const nodes = cluster.ok ? table(['Node', 'Endpoint', 'Reachable', 'Leader', { label: 'Height', num: true }],
    cluster.ok.nodes.map((n) => h('tr', {}, h('td', {}, String(n.id)), h('td', { class: 'mono' }, n.endpoint),
      h('td', {}, n.reachable ? 'yes' : `no: ${n.error || ''}`), h('td', {}, n.id === n.leader ? 'leader' : n.leader ? `follows ${n.leader}` : 'none'),
      h('td', { class: 'num' }, String(n.height))))) : unavailable(cluster);
  const list = transfers.ok || [];
  const counts = {};
  for (const t of list) counts[t.status.state] = (counts[t.status.state] || 0) + 1;
  const byState = h('section', { class: 'card', 'aria-labelledby': 'st-states' }, h('h2', { id: 'st-states' }, 'Transfers by state'),
    transfers.ok ? (list.length ? table(['State', { label: 'Transfers', num: true }], Object.entries(counts).sort().map(([k, v]) =>
      h('tr', {}, h('td', {}, k.replaceAll('_', ' ')), h('td', { class: 'num' }, String(v))))) : h('p', { class: 'muted' }, 'No transfers yet.'))
      : unavailable(transfers),
    transfers.ok && list.length === 500 ? h('p', { class: 'hint' }, 'The latest 500 transfers.') : null);
  const now = Math.floor(Date.now() / 1000);
  const active = (flows.ok || []).filter((f) => f.status === 'active');
  const charts = ctx.assets.map((a) => {
    const addr = getAddress(a.asset);
    const ts = list.filter((t) => getAddress(t.asset) === addr && SPENT.includes(t.status.state)).map((t) => ({ amount: BigInt(t.amount), at: t.createdAt }));
    // The tightest per-period limit any active flow sets for this asset.
    const limits = active.flatMap((f) => f.flow.limits).filter((l) => getAddress(l.asset) === addr)
      .map((l) => ({ perPeriod: BigInt(l.perPeriod), periodSeconds: l.periodSeconds }));
    const limit = limits.sort((x, y) => (x.perPeriod < y.perPeriod ? -1 : 1))[0] || null;
    return outflowChart({ symbol: a.symbol, decimals: a.decimals, transfers: ts, limit, now });
  });
  ctx.show(h('h1', {}, 'Status'), paused, h('div', { class: 'grid' }, gw, sig, bal),
    h('section', { class: 'card', 'aria-labelledby': 'st-nodes' }, h('h2', { id: 'st-nodes' }, 'Private chain nodes'), nodes),
    byState, h('h2', {}, 'Outflow against the period limits'),
    h('p', { class: 'hint' }, ctx.me.roles.some((r) => ['admin', 'auditor', 'key_holder', 'approver'].includes(r))
      ? 'Every transfer that is applied for or on its way, by the day it was applied for.' : 'Your own transfers, by the day you applied.'),
    charts);
}
