// A table of records and a card with one figure: what the views are made of.

import { h } from './dom.js';
import { figure } from './format.js';

/** Rows under `columns` ({key, label, cell}); `empty` in their place when there are none. */
export function table(rows, columns, empty = 'none yet') {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  const cell = (c, r) => {
    const v = c.cell ? c.cell(r) : r[c.key];
    return v instanceof Node ? v : figure(v);
  };
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', {}, c.label ?? c.key)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          columns.map((c) => h('td', {}, cell(c, r))),
        ),
      ),
    ),
  );
}

/** A labelled figure. */
export function card(label, value, testid) {
  return h(
    'div',
    { class: 'card' },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value', 'data-testid': testid }, value instanceof Node ? value : figure(value)),
  );
}
