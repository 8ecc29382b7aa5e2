import { join } from 'node:path';
import { atMost, type Figure, figure } from '../lib/figures.ts';
import { REPS, say } from '../lib/settings.ts';
import { type BenchStack, upStack } from '../lib/stack.ts';

export interface StackUpResult {
  /** 5b: the cold `testbed up`, s. */
  readonly figure: Figure;
  /** The last stack brought up, left running for the stages after this one. */
  readonly stack: BenchStack;
}

/** Cold `testbed up` into fresh state folders; the last stack stays up for the pipeline's stages. */
export async function stackUpStage(profileDir?: string): Promise<StackUpResult> {
  say('cold `testbed up` (fresh state folder, ActiveMQ installed), 3 times');
  const profile = profileDir && join(profileDir, 'stack');
  const ups: number[] = [];
  for (let i = 1; i < REPS; i++) {
    const thrownAway = await upStack(profile);
    ups.push(thrownAway.upMs / 1000);
    await thrownAway.destroy();
  }
  const stack = await upStack(profile);
  ups.push(stack.upMs / 1000);
  return {
    figure: figure({
      id: '5b',
      figure: 'cold `testbed up` (broker, dynalite, runner, API)',
      unit: 's',
      runs: ups,
      goal: atMost(8),
    }),
    stack,
  };
}
