import type { Command } from 'commander';
import type { StackOverrides } from '#local/stack.ts';
import type { Monitor } from '#query/monitor.ts';
import { stackOptions } from './options.ts';

// What the monitor's commands share: their flags, the query layer reached through the local stack, and
// the run a list is of.

export interface MonitorFlags extends StackOverrides {
  json?: boolean;
  execution?: string;
  run?: string;
  limit?: string;
  next?: string;
  namespace?: string;
  status?: string;
}

/** Where the local stack is (as `testbed up` takes it), and JSON output. */
export const monitorOptions = (cmd: Command): Command =>
  stackOptions(cmd).option('--json', 'print JSON, as the HTTP API returns it');

/** Options of the list commands: whose records (by default, `whose`), how many, from where. */
export function listOptions(cmd: Command, whose = 'the latest run'): Command {
  return monitorOptions(cmd)
    .option('--execution <id>', 'the execution (e.g. prompt_processing-alice-0001)')
    .option('--run <run>', `the run number (default ${whose})`)
    .option('--limit <n>', 'at most this many (1 to 1000, default 100)')
    .option('--next <token>', 'the page after the one that printed this token');
}

/** Options of a list of runs: how many, from where, which. */
export const pageOptions = (cmd: Command): Command =>
  monitorOptions(cmd)
    .option('--limit <n>', 'at most this many (1 to 1000, default 100)')
    .option('--next <token>', 'the page after the one that printed this token');

/**
 * Runs `use` against the local stack's tables. While DynamoDB is away and the stack's supervisor expects
 * it back, it waits (saying so on stderr) and tries again; with no stack up it fails at once.
 */
export async function withMonitor<T>(o: StackOverrides, use: (m: Monitor) => Promise<T>): Promise<T> {
  const [{ resolveStack, stackEnvironment }, { monitorContext }, { Monitor }, { patiently }, dynamo] =
    await Promise.all([
      import('#local/stack.ts'),
      import('#query/context.ts'),
      import('#query/monitor.ts'),
      import('#local/retry.ts'),
      import('#local/stack-dynamo.ts'),
    ]);
  const stack = resolveStack(o);
  const base = monitorContext({ ...process.env, ...stackEnvironment(stack) });
  base.db.destroy();
  // Bounded requests: a stopped dynalite takes the connection and never answers.
  const db = dynamo.stackDynamoClient(stack, { requestTimeoutMs: 10_000, maxAttempts: 1 });
  try {
    return await patiently(() => use(new Monitor({ ...base, db })), {
      what: 'DynamoDB',
      say: (line) => console.error(line),
      hopeless: () => dynamo.whyDynamoNotComingBack(stack),
    });
  } finally {
    db.destroy();
  }
}

/** The filters a list command passes on: only those given, named as the query layer names them. */
export function owner(o: MonitorFlags): Record<string, string> {
  const p: Record<string, string> = {};
  if (o.execution !== undefined) p.execution_id = o.execution;
  if (o.run !== undefined) p.run_id = o.run;
  if (o.limit !== undefined) p.limit = o.limit;
  if (o.next !== undefined) p.next = o.next;
  return p;
}

/**
 * A run list's owner: the run or execution given, else the latest run, said in one line on stderr (stdout
 * stays the list, or JSON); undefined when there is no run yet.
 */
export async function ownerOrLatest(
  m: Monitor,
  o: MonitorFlags,
): Promise<Record<string, string> | undefined> {
  if (o.run !== undefined || o.execution !== undefined) return owner(o);
  const latest = await m.latestRun();
  if (latest === undefined) return undefined;
  console.error(`run ${latest.run_id} (latest; give --run to choose)`);
  return { ...owner(o), run_id: latest.run_id };
}

export const NO_RUN_YET = 'no runs yet: testbed run prompt_processing';

/** The run or execution a list was asked of, in words. */
export const whose = (owner: Record<string, string>): string =>
  owner.run_id !== undefined ? `run ${owner.run_id}` : `execution ${owner.execution_id}`;

/** The flags given among `names` (flag -> query parameter), as the query layer names them. */
export function given(o: Record<string, unknown>, names: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(names)
      .filter(([flag]) => o[flag] !== undefined)
      .map(([flag, param]) => [param, String(o[flag])]),
  );
}
