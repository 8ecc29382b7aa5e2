import { createInterface } from 'node:readline/promises';

export type Interruption = 'cancel' | 'leave';

/**
 * What Ctrl-C does to `testbed run` once its run has started: on a terminal it asks whether to cancel the
 * run or leave it going; without one (a script, CI) it cancels, so no run is left open by accident. A
 * second Ctrl-C while that is under way ends the command at once and leaves the run as it is.
 * Returns the function that stops listening.
 */
export function onInterrupt(o: {
  /** The run being followed; undefined before the DAQ simulator has opened it. */
  readonly runId: () => string | undefined;
  readonly decided: (choice: Interruption, runId: string) => void;
  readonly say: (line: string) => void;
}): () => void {
  let asked = false;
  const listener = () => {
    const runId = o.runId();
    if (asked || runId === undefined) {
      o.say(runId === undefined ? 'interrupted before the run started' : `run ${runId} is left as it is`);
      process.exit(130);
    }
    asked = true;
    void choose(runId).then(
      (choice) => o.decided(choice, runId),
      () => o.decided('cancel', runId),
    );
  };
  process.on('SIGINT', listener);
  return () => process.off('SIGINT', listener);
}

async function choose(runId: string): Promise<Interruption> {
  if (!process.stdin.isTTY) return 'cancel';
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`\nCancel run ${runId}? [y] cancels it, [n] leaves it going: `);
    return /^\s*n/i.test(answer) ? 'leave' : 'cancel';
  } finally {
    rl.close();
  }
}
