// DOM helpers. Every text from the gateway goes in as text (textContent),
// never as markup, so nothing it sends can run in this page.

/** Builds an element: h('td', { class: 'num' }, 'text', child, …). */
export function h(tag, attrs = {}, ...children) {
  const svg = ['svg', 'rect', 'line', 'polyline', 'text', 'g', 'title'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the page content and moves focus to it (for screen readers). */
export function show(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  main.focus({ preventScroll: true });
}

/** Replaces the page content without moving focus (a live refresh). */
export function refresh(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

/** Shows a message above the page; `kind` is 'error' or 'info'. */
export function alert(text, kind = 'error') {
  const el = document.getElementById('alert');
  if (!text) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.className = kind === 'info' ? 'alert info' : 'alert';
  el.textContent = text;
  el.hidden = false;
}

/** Base units (a decimal string or bigint) as whole units with `decimals`. */
export function formatUnits(amount, decimals) {
  const v = BigInt(amount);
  const d = BigInt(decimals);
  const base = 10n ** d;
  const whole = v / base;
  let frac = (v % base).toString().padStart(Number(d), '0').replace(/0+$/, '');
  const w = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac ? `${w}.${frac}` : w;
}

/**
 * Whole units typed by a person ("1.5", "250") as base units, exactly: digits,
 * at most one point, no more fraction digits than the asset has.
 */
export function parseUnits(text, decimals) {
  const s = String(text).trim();
  if (!/^\d+(\.\d+)?$/.test(s)) throw new Error(`"${text}" is not an amount: use digits and at most one point, e.g. 1.5`);
  const [w, f = ''] = s.split('.');
  if (f.length > decimals) throw new Error(`"${text}" has more than ${decimals} decimal places`);
  return BigInt(w) * 10n ** BigInt(decimals) + BigInt((f + '0'.repeat(decimals)).slice(0, decimals) || '0');
}

export function when(unixSeconds) {
  if (!unixSeconds) return '';
  return new Date(Number(unixSeconds) * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function short(hex) {
  return hex && hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex || '';
}

export function stateCell(state) {
  return h('span', { class: `state-${state}` }, state.replaceAll('_', ' '));
}

export function table(headers, rows, caption) {
  return h(
    'table',
    {},
    caption ? h('caption', { class: 'muted' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', class: x.num ? 'num' : null }, x.label ?? x)))),
    h('tbody', {}, rows),
  );
}

export function fields(pairs) {
  return h('dl', { class: 'fields' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function busy(button, text) {
  const old = button.textContent;
  button.disabled = true;
  button.textContent = text;
  return () => {
    button.disabled = false;
    button.textContent = old;
  };
}
