import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { readCredentials } from '#runtime/credentials.ts';
import { type PreparedStfs, prepareStfs, Tables } from './pipeline.ts';
import { layout, namespace } from './settings.ts';
import type { BenchStack } from './stack.ts';
import { startTransformers, type TransformerCommand, type TransformerProcess } from './transformers.ts';

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

  /** A new run id and 4 transformers for it, not measured (another run beside the measured one). */
  otherRun(profileName: string): TransformerProcess[] {
    return this.transformersOf(String(this.nextRun++), profileName);
  }

  /** A new run and its 4 transformers, the measured ones (`endRun` stops them). */
  startRun(profileName: string): string {
    const runId = String(this.nextRun++);
    this.measured = this.transformersOf(runId, profileName);
    return runId;
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

  private transformersOf(runId: string, profileName: string): TransformerProcess[] {
    return startTransformers(4, {
      runId,
      namespace,
      env: this.stack.env,
      command: this.command(profileName),
      logFile: (i) => join(this.stack.stateDir, 'logs', `bench-${runId}-p${i}.log`),
    });
  }
}
