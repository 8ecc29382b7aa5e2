// How values show on the page: one time style, and a dash for what has no value yet.

import { h } from './dom.js';

/** What the page shows for a figure that has no value yet (rather than 0, NaN or an empty cell). */
export const DASH = '–';

/** Epoch ms of an API timestamp (canonical ISO, microseconds cut to what Date reads), NaN when absent. */
export const ms = (iso) =>
  typeof iso === 'string' ? Date.parse(iso.replace(/(\.\d{3})\d*Z$/, '$1Z')) : Number.NaN;
export const known = (v) =>
  v !== undefined && v !== null && v !== '' && !(typeof v === 'number' && !Number.isFinite(v));
/** A figure as text, or the dash before it has a value. */
export const figure = (v) => (known(v) ? String(v) : DASH);
export const fixed = (x, digits = 1) =>
  typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : DASH;
export const status = (v) => (known(v) ? h('span', { class: `status-${v}` }, v) : DASH);
/** Percentiles as "p50 / p95 ms", or a dash before any slice is done (no delay, rather than 0 ms). */
export const spread = (p) => (p.count === 0 ? DASH : `${fixed(p.p50, 0)} / ${fixed(p.p95, 0)} ms`);
/** Milliseconds from one API timestamp to another, or the dash when either is missing. */
export const between = (from, to) => fixed(ms(to) - ms(from), 0);

/** The page's one time style: UTC to the second, with the zone named ("2026-12-03 19:38:10 UTC"). */
export function when(t) {
  const at = typeof t === 'number' ? t : ms(t);
  if (!Number.isFinite(at)) return DASH;
  return `${new Date(at).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
/** A time cell: the formatted time, the API's own timestamp kept in `datetime`. */
export const time = (iso) => (Number.isFinite(ms(iso)) ? h('time', { datetime: iso }, when(iso)) : DASH);
