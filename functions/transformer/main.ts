// The pilot's entry: one transformer for the run named in the environment, until it is told to stop.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { startTransformer, type Transformer } from '#domain/transformer.ts';
import { transformerConfigFromEnv } from '#domain/transformer-config.ts';
import { loggerFromEnv } from '#log/logger.ts';
import { brokerFromEnv } from '#runtime/broker-env.ts';

// A pilot's garbage is short-lived (a slice, its result): V8 would still grow the young generation to its
// 32 MB maximum within a few thousand slices, a third of the pilot's memory. Growing it by a factor of 1
// keeps it at its initial size at no measurable CPU cost. V8 reads this flag whenever the young generation
// would grow; a command line that sizes the young generation itself wins.
if (!process.execArgv.some((a) => a.includes('semi-space'))) {
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // An engine without the flag grows as it likes.
  }
}

const config = transformerConfigFromEnv(process.env);
const log = loggerFromEnv({ service: 'transformer', run_id: config.runId, pilot_id: config.pilotId });

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
let endReason: string | undefined;
let closeBroker = async () => {};
try {
  // Not `environment()`: a pilot needs no DynamoDB client, whose SDK costs ~20 MB of memory.
  const broker = await brokerFromEnv(process.env, log);
  closeBroker = () => broker.close();
  transformer = await startTransformer(config, { broker, log });
  if (stopReason) void transformer.stop(stopReason).catch(() => {});
  endReason = (await transformer.ended).reason;
} catch (error) {
  endReason = error instanceof Error ? error.message : String(error);
  log.error('transformer failed', { error });
  code = 1;
}
await closeBroker().catch(() => {});
// The exit first, then the pid file: whoever finds the pid file gone finds how it ended.
writeExitFile(process.env.PILOT_PID_FILE);
removeOwnPidFile(process.env.PILOT_PID_FILE);
log.info('pilot exits', { code });
process.exit(code);

/**
 * How this pilot ended, beside the local launcher's pid file (`<pilot>.exit`, read by its status()): the
 * watchdog ends a pilot that exited 0 instead of counting it lost, though its transformer_end may not be
 * recorded (the broker or DynamoDB away). A pilot killed by SIGKILL writes nothing.
 */
function writeExitFile(pidFile: string | undefined): void {
  if (!pidFile?.endsWith('.pid')) return;
  const attempt = Number(process.env.PILOT_ATTEMPT) || undefined;
  try {
    writeFileSync(
      pidFile.replace(/\.pid$/, '.exit'),
      JSON.stringify({
        pid: process.pid,
        attempt,
        code,
        signal: null,
        reason: endReason,
        at: new Date().toISOString(),
      }),
    );
  } catch {
    // The state folder is gone: nobody will ask.
  }
}

/** The local launcher's pid file, once this process is gone, names nobody. */
function removeOwnPidFile(file: string | undefined): void {
  if (!file) return;
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
