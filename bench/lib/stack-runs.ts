import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import type { SliceQueue } from '#routes/destinations.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { type PreparedStfs, prepareStfs, Tables } from './pipeline.ts';
import { layout, namespace } from './settings.ts';
import type { BenchStack } from './stack.ts';
import { startTransformers, type TransformerCommand, type TransformerProcess } from './transformers.ts';

export interface RunOptions {
  /** Where the run's slices are queued. @default 'run', as the testbed's own runs */
  readonly queue?: SliceQueue;
  /** @default 4 */
  readonly transformers?: number;
  /** @default the bench's namespace */
  readonly namespace?: string;
}

/** A run of the bench's and the transformers serving it. */
export interface RunTeam {
  readonly runId: string;
  readonly namespace: string;
  readonly queue: SliceQueue;
  readonly transformers: readonly TransformerProcess[];
}

/**
 * Measured runs on the bench's local stack. Each measured run is a run of its own, with its own 4
 * transformers (pilots serve one run): one run's item would otherwise hold the STF sets of every run before
 * it, which no real run carries.
 */
export class StackRuns {
  readonly tables: Tables;
  private readonly store: string;
  private nextRun = 810_001;
  private measured: TransformerProcess[] = [];

  private constructor(
    readonly stack: BenchStack,
    readonly publisher: BrokerPort,
    private readonly command: TransformerCommand,
  ) {
    this.tables = new Tables(stack.env);
    this.store = join(stack.stateDir, 'bench-stf');
    mkdirSync(this.store, { recursive: true });
  }

  static async open(stack: BenchStack, command: TransformerCommand): Promise<StackRuns> {
    const publisher = await connectBroker({
      url: stack.env.BROKER_URL ?? '',
      ...readCredentials(stack.env.BROKER_CREDENTIALS_FILE ?? ''),
      name: 'bench-publisher',
      log: () => {},
    });
    return new StackRuns(stack, publisher, command);
  }

  /** The transformers of the run being measured. */
  get transformers(): readonly TransformerProcess[] {
    return this.measured;
  }

  /** A new run id and its transformers, not measured (another run beside the measured one). */
  otherRun(profileName: string, o: RunOptions = {}): readonly TransformerProcess[] {
    return this.team(profileName, o).transformers;
  }

  /** A new run and its transformers, the measured ones (`endRun` stops them). */
  startRun(profileName: string, o: RunOptions = {}): string {
    const team = this.team(profileName, o);
    this.measured = [...team.transformers];
    return team.runId;
  }

  /** A new run id and its transformers, which the caller stops. */
  team(profileName: string, o: RunOptions = {}): RunTeam {
    const runId = String(this.nextRun++);
    const queue = o.queue ?? 'run';
    const ns = o.namespace ?? namespace;
    const transformers = startTransformers(o.transformers ?? 4, {
      runId,
      namespace: ns,
      sliceQueue: queue,
      env: this.stack.env,
      command: this.command(profileName),
      logFile: (i) => join(this.stack.stateDir, 'logs', `bench-${runId}-p${i}.log`),
    });
    return { runId, namespace: ns, queue, transformers };
  }

  async endRun(): Promise<void> {
    await Promise.all(this.measured.map((t) => t.stop()));
    this.measured = [];
  }

  /** STFs of `runId` written and registered, `slices` slices from sequence `first` on. */
  prepare(runId: string, slices: number, first = 1): Promise<PreparedStfs> {
    return prepareStfs(this.tables, this.store, runId, first, slices, layout);
  }

  cleanUp(p: PreparedStfs): void {
    for (const f of p.stfs) rmSync(f.path, { force: true });
  }

  async close(): Promise<void> {
    await this.endRun();
    await this.publisher.close();
  }
}
