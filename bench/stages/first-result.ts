import type { BrokerPort } from '#broker/port.ts';
import { destinations } from '#routes/destinations.ts';
import { atMost, type Figure, figuresOf } from '../lib/figures.ts';
import { REPS, say } from '../lib/settings.ts';
import type { BenchStack } from '../lib/stack.ts';
import { repeat } from '../lib/stats.ts';

/** One `testbed run`, ms by the clock of this process (results.json's `firstResult`). */
export interface FirstResult {
  /** Command start → first slice_result. */
  readonly fromCommandMs: number;
  readonly toRunImminentMs: number;
  readonly fromRunImminentMs: number;
  readonly toPilotStartMs: number;
  /** The whole command. */
  readonly commandMs: number;
  /** What the run's summary says of its first result. */
  readonly summaryFirstResult: string;
}

export interface FirstResultResult {
  /** 5a and its parts 5a′, 5a″, 5a‴. */
  readonly figures: readonly Figure[];
  readonly firstResult: readonly FirstResult[];
}

/** Runs a small workflow through the CLI; the clock starts when the command does. */
async function firstResult(stack: BenchStack, listener: BrokerPort): Promise<FirstResult> {
  // The first arrival of each message type of the run, by the clock of this process.
  const firstAt = new Map<string, number>();
  const subs = [destinations.epic, destinations.workers, destinations.results].map((d) =>
    listener.subscribe(d, { ack: 'auto' }, (m) => {
      const type = m.headers.msg_type;
      if (type && m.headers.namespace === 'bench-first' && !firstAt.has(type))
        firstAt.set(type, performance.now());
    }),
  );
  await Promise.all(subs.map((sub) => sub.ready));
  const t0 = performance.now();
  const run = await stack.testbed(
    [
      'run',
      'prompt_processing',
      '--no-realtime',
      '--stf-count',
      '4',
      '--workers',
      '2',
      '--namespace',
      'bench-first',
    ],
    180_000,
  );
  await Promise.all(subs.map((sub) => sub.unsubscribe()));
  const at = (type: string) => firstAt.get(type) ?? Number.NaN;
  if (run.code !== 0 || !firstAt.has('slice_result') || !firstAt.has('run_imminent'))
    throw new Error(`testbed run failed (${run.code}): ${run.stdout.slice(-1500)}${run.stderr.slice(-1500)}`);
  return {
    fromCommandMs: at('slice_result') - t0,
    toRunImminentMs: at('run_imminent') - t0,
    fromRunImminentMs: at('slice_result') - at('run_imminent'),
    toPilotStartMs: at('transformer_start') - at('run_imminent'),
    commandMs: run.ms,
    summaryFirstResult: /First result after the first slice: (.*)/.exec(run.stdout)?.[1] ?? '?',
  };
}

/** `testbed run prompt_processing --no-realtime` with the stack up, split up by the first of each message. */
export async function firstResultStage(stack: BenchStack, listener: BrokerPort): Promise<FirstResultResult> {
  say('time to first result: `testbed run prompt_processing --no-realtime` with the stack up, 3 times');
  const first = await repeat(REPS, () => firstResult(stack, listener));
  const part = figuresOf(first, 'ms');
  return {
    figures: [
      part(
        '5a',
        'first slice_result after `testbed run --no-realtime` starts (stack up)',
        (f) => f.fromCommandMs,
        atMost(1_000),
      ),
      part(
        '5a′',
        'of which: command start → run_imminent published (CLI, stack check, DAQ simulator)',
        (f) => f.toRunImminentMs,
      ),
      part('5a″', 'of which: run_imminent published → first slice_result', (f) => f.fromRunImminentMs),
      part(
        '5a‴',
        'within that: run_imminent → transformer_start (two runner hops, a pilot started and connected)',
        (f) => f.toPilotStartMs,
      ),
    ],
    firstResult: first,
  };
}
