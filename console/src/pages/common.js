// Shared bits of the pages: assets, amounts, flows.
import { h, formatUnits } from '../ui.js';
import { getAddress } from 'viem';

/** The registered asset at `address` ({asset, symbol, decimals}), or null. */
export function assetOf(ctx, address) {
  const a = getAddress(address);
  return ctx.assets.find((x) => getAddress(x.asset) === a) || null;
}

/** An amount in base units shown in whole units with its symbol, and the exact base units. */
export function amountView(ctx, asset, amount) {
  const a = assetOf(ctx, asset);
  if (!a) return h('span', {}, `${amount} base units of unregistered asset ${asset}`);
  return h('span', {}, h('span', { class: 'big' }, `${formatUnits(amount, a.decimals)} ${a.symbol}`),
    h('span', { class: 'muted' }, ` (${amount} base units, ${a.decimals} decimals)`));
}

export function amountText(ctx, asset, amount) {
  const a = assetOf(ctx, asset);
  return a ? `${formatUnits(amount, a.decimals)} ${a.symbol}` : `${amount} (unregistered ${asset})`;
}

export function personLabel(ctx, address) {
  return getAddress(address) === getAddress(ctx.me.address) ? `${address} (you)` : address;
}

export function txLink(hash) {
  return hash ? h('code', { class: 'mono', title: 'public transaction hash' }, hash) : '';
}
