// The local Lambda runner as a process of its own, started by `testbed up`.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { watchPilots } from '#domain/pilot-watchdog.ts';
import { type Route, routes } from '#routes/route-table.ts';
import { environment } from '#runtime/env.ts';
import { localStackLoader } from './lambda-invoke.ts';
import { localPilotLauncher } from './pilot-launcher.ts';
import { type MqHandler, startRunner } from './runner.ts';
import { localStackOf } from './stack.ts';
import { runnerReadyFile } from './stack-parts.ts';
import { projectRoot } from './state.ts';

const env = await environment();
const log = env.log.child({ service: 'runner' });
const available = routes.filter((r) => {
  const found = existsSync(join(projectRoot, 'functions', r.handler, 'handler.ts'));
  if (!found) log.warn('no handler for this route: its queue is not consumed', { handler: r.handler });
  return found;
});
const inProcess = async (r: Route): Promise<MqHandler> => {
  const url = pathToFileURL(join(projectRoot, 'functions', r.handler, 'handler.ts')).href;
  return (await import(url)).handler as MqHandler;
};
// With LocalStack (testbed up --localstack) each queue's batches go to its deployed function instead.
const localstack = localStackOf(env.env);
const runner = await startRunner({
  broker: env.broker,
  routes: available,
  load: localstack ? await localStackLoader(localstack, available, inProcess) : inProcess,
  log,
});
const stopWatchdog = startWatchdog();
writeFileSync(runnerReadyFile(env.env.TESTBED_STATE_DIR ?? '.'), String(process.pid));
log.info('runner ready', {
  handlers: available.map((r) => r.handler),
  ...(localstack && { localstack: localstack.url }),
});

/** How long a stop waits for running invocations, and then for the broker to take the disconnect. */
const STOP_GRACE_MS = 3000;
const CLOSE_GRACE_MS = 2000;

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    // Every wait below is bounded: a stopped or frozen broker, or DynamoDB away, must not keep us up.
    // What is unacked when we exit goes back to the broker with the connection.
    await Promise.all([Promise.race([stopWatchdog(), sleep(STOP_GRACE_MS)]), runner.stop(STOP_GRACE_MS)]);
    const closed = await Promise.race([
      env.broker.close().then(() => true),
      sleep(CLOSE_GRACE_MS).then(() => false),
    ]);
    log.info('runner stopped', { ...runner.stats, ...(!closed && { broker: 'did not answer' }) });
    process.exit(0);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * The pilot watchdog, which a schedule invokes in AWS: every few seconds here (TESTBED_WATCHDOG_INTERVAL_S,
 * 0 turns it off), one pass at a time, so lost pilots are replaced while a short local run still goes on.
 * Returns what stops it, after the pass under way.
 */
function startWatchdog(): () => Promise<void> {
  const seconds = Number(env.env.TESTBED_WATCHDOG_INTERVAL_S ?? 2);
  const stateDir = env.env.TESTBED_STATE_DIR;
  if (!stateDir || !(seconds > 0)) return async () => {};
  const deps = {
    db: env.db,
    tableNames: env.tableNames,
    log: env.log.child({ service: 'pilot-watchdog' }),
    launcher: localPilotLauncher({ stateDir, env: env.env }),
  };
  let pass: Promise<void> | undefined;
  const timer = setInterval(() => {
    pass ??= watchPilots(deps)
      .then(
        () => {},
        (error: Error) => deps.log.error('watchdog pass failed', { error: error.message }),
      )
      .finally(() => {
        pass = undefined;
      });
  }, seconds * 1000);
  return async () => {
    clearInterval(timer);
    await pass;
  };
}
