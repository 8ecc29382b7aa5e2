import { cliTime, isTimeColumn } from './format.ts';

const cell = (v: unknown, column: string): string =>
  v === undefined || v === null
    ? ''
    : isTimeColumn(column)
      ? cliTime(v)
      : typeof v === 'object'
        ? JSON.stringify(v)
        : String(v);

/** A plain text table, widest cell per column, times in the CLI's one style. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(r[c], c)));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Prints a page: JSON as is, or a table of `columns` and the token of the next page. */
export function printPage(
  page: { items: object[]; next?: string },
  o: { json?: boolean },
  columns: string[],
  empty: string,
): void {
  if (o.json) {
    console.log(JSON.stringify(page, null, 2));
    return;
  }
  if (page.items.length === 0) console.log(empty);
  else console.log(table(page.items as Record<string, unknown>[], columns));
  if (page.next) console.error(`more: --next ${page.next}`);
}
