// The pilot's entry: one transformer for the run named in the environment, until it is told to stop.
import { readFileSync, rmSync } from 'node:fs';
import { startTransformer, type Transformer, transformerConfigFromEnv } from '#domain/transformer.ts';
import { environment } from '#runtime/env.ts';
import { createLogger } from '#runtime/log.ts';

const config = transformerConfigFromEnv(process.env);
let log = createLogger({ service: 'transformer', run_id: config.runId, pilot_id: config.pilotId });

// SIGTERM is how the worker adjuster, ECS and `testbed down` ask a pilot to end: drain like stop_transformer.
// Listening from the first moment, so a signal during start-up is not fatal; a second one is.
let stopReason: string | undefined;
let transformer: Transformer | undefined;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    stopReason ??= signal.toLowerCase();
    void transformer?.stop(stopReason).catch(() => {});
  });
}

let code = 0;
let closeBroker = async () => {};
try {
  const env = await environment();
  closeBroker = () => env.broker.close();
  log = env.log.child({ service: 'transformer', run_id: config.runId, pilot_id: config.pilotId });
  transformer = await startTransformer(config, { broker: env.broker, log });
  if (stopReason) void transformer.stop(stopReason).catch(() => {});
  await transformer.ended;
} catch (error) {
  log.error('transformer failed', { error: error instanceof Error ? error.message : String(error) });
  code = 1;
}
await closeBroker().catch(() => {});
removeOwnPidFile(process.env.PILOT_PID_FILE);
log.info('pilot exits', { code });
process.exit(code);

/** The local launcher's pid file, once this process is gone, names nobody. */
function removeOwnPidFile(file: string | undefined): void {
  if (!file) return;
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
