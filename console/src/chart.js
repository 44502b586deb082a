// The outflow of one asset over the last 30 days, day by day, against the
// flow's period limit: bars are each day's outflow, the solid line the
// amount used in the rolling period ending that day, the dashed line the
// per-period limit. Drawn as SVG elements (no inline styles: the CSP forbids them).
import { h, formatUnits } from './ui.js';

const DAY = 86_400;

/**
 * `transfers`: [{ amount (bigint), at (unix s) }] of this asset; `limit`:
 * { perPeriod (bigint), periodSeconds } or null; `now`: unix s.
 */
export function outflowChart({ symbol, decimals, transfers, limit, now }) {
  const days = 30;
  const start = Math.floor(now / DAY) * DAY - (days - 1) * DAY;
  const daily = Array.from({ length: days }, () => 0n);
  for (const t of transfers) {
    const i = Math.floor((t.at - start) / DAY);
    if (i >= 0 && i < days) daily[i] += t.amount;
  }
  const period = limit ? Number(limit.periodSeconds) : DAY;
  const used = daily.map((_, i) => {
    const end = start + (i + 1) * DAY;
    return transfers.filter((t) => t.at < end && t.at >= end - period).reduce((s, t) => s + t.amount, 0n);
  });
  const max = [...daily, ...used, limit ? limit.perPeriod : 0n, 1n].reduce((a, b) => (b > a ? b : a), 0n);
  const W = 720, H = 170, L = 70, B = 24, T = 10;
  const x = (i) => L + (i * (W - L - 10)) / days;
  const y = (v) => T + (H - T - B) * (1 - Number((v * 10000n) / max) / 10000);
  const bw = (W - L - 10) / days - 3;
  const label = (v) => `${formatUnits(v, decimals)} ${symbol}`;
  const bars = daily.map((v, i) => {
    const day = new Date((start + i * DAY) * 1000).toISOString().slice(0, 10);
    const over = limit && used[i] > limit.perPeriod;
    return h('rect', { class: over ? 'bar over' : 'bar', x: x(i) + 1, y: y(v), width: bw, height: Math.max(0, H - B - y(v)) },
      h('title', {}, `${day}: ${label(v)} out; ${label(used[i])} in the period ending that day`));
  });
  const line = h('polyline', { class: 'used', points: used.map((v, i) => `${x(i) + bw / 2},${y(v)}`).join(' ') });
  const limitLine = limit ? h('line', { class: 'limit', x1: L, x2: W - 10, y1: y(limit.perPeriod), y2: y(limit.perPeriod) }) : null;
  const ticks = [0n, max / 2n, max].map((v) => h('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, formatUnits(v, decimals).split('.')[0]));
  const dates = [0, 10, 20, 29].map((i) => h('text', { x: x(i), y: H - 6 }, new Date((start + i * DAY) * 1000).toISOString().slice(5, 10)));
  const total = daily.reduce((a, b) => a + b, 0n);
  const desc = `${symbol}: ${label(total)} out over the last 30 days` +
    (limit ? `; limit ${label(limit.perPeriod)} per ${Math.round(period / 3600)} h, at most ${label(used.reduce((a, b) => (b > a ? b : a), 0n))} used in one period` : '; no period limit found');
  return h('figure', { class: 'card chart', 'data-asset': symbol },
    h('figcaption', {}, h('strong', {}, `${symbol} outflow, last 30 days`), h('div', { class: 'muted' }, desc)),
    h('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': desc },
      h('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }), h('line', { class: 'axis', x1: L, x2: W - 10, y1: H - B, y2: H - B }),
      bars, line, limitLine, ticks, dates),
    h('div', { class: 'legend' },
      h('span', {}, h('span', { class: 'sw bar' }), 'outflow per day'),
      h('span', {}, h('span', { class: 'sw used' }), 'used in the rolling period'),
      limit ? h('span', {}, h('span', { class: 'sw limit' }), `period limit (${label(limit.perPeriod)})`) : null));
}
