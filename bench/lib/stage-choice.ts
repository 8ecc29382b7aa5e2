/** The stages of `npm run bench`, in the order they run. */
export const stageNames = [
  'bundles',
  'handler-batch',
  'raw-broker',
  'transformers',
  'stack-up',
  'pipeline',
  'delays',
  'first-result',
  'fast-run',
  'concurrency',
] as const;
export type StageName = (typeof stageNames)[number];

/**
 * `--stages a,b` (or `--stages=a,b`): only these stages run; undefined when every stage does. The stages on
 * the local stack (pipeline, delays, first-result, fast-run, concurrency) bring it up first, so they take stack-up with them.
 */
export function chosenStages(argv: readonly string[]): ReadonlySet<StageName> | undefined {
  const at = argv.findIndex((a) => a === '--stages' || a.startsWith('--stages='));
  if (at < 0) return undefined;
  const arg = argv[at] ?? '';
  const list = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : (argv[at + 1] ?? '');
  const names = list.split(',').filter(Boolean);
  const known = (name: string): name is StageName => stageNames.some((stage) => stage === name);
  const unknown = names.filter((name) => !known(name));
  if (names.length === 0 || unknown.length > 0)
    throw new Error(
      `--stages: unknown stage(s) ${unknown.join(', ') || '(none given)'}; stages: ${stageNames.join(', ')}`,
    );
  return new Set(names.filter(known));
}
