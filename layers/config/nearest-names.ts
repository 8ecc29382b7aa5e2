/**
 * Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`, case aside: the
 * optimal-string-alignment distance, so `stf_cuont` is one edit from `stf_count`.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  // Three rows suffice: the swap looks two back.
  let before: number[] = [];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, (before[j - 2] as number) + 1);
      }
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return previous[t.length] as number;
}

/**
 * Whether `typed` is near enough `known` to be a slip for it: a third of the longer name in edits (at
 * least two), or `known` with something added or cut at its end (`slices_per_stf_typo`).
 */
export function isNear(typed: string, known: string): boolean {
  const distance = editDistance(typed, known);
  if (distance <= Math.max(2, Math.floor(Math.max(typed.length, known.length) / 3))) return true;
  const [shorter, longer] = typed.length < known.length ? [typed, known] : [known, typed];
  return shorter.length >= 4 && longer.toLowerCase().startsWith(shorter.toLowerCase());
}

/** Up to `limit` of `known` near `typed`, nearest first (ties in the order given). */
export function nearestNames<Name extends string>(typed: string, known: Iterable<Name>, limit = 3): Name[] {
  return [...known]
    .filter((name) => name !== typed && isNear(typed, name))
    .map((name, order) => ({ name, order, distance: editDistance(typed, name) }))
    .sort((x, y) => x.distance - y.distance || x.order - y.order)
    .slice(0, limit)
    .map(({ name }) => name);
}

/** `a`, `a or b`, `a, b or c`. */
export function orList(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}
