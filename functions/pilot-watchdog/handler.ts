import { ecsPilotLauncherFromEnv } from '#domain/ecs-launcher.ts';
import { type WatchOutcome, watchPilots } from '#domain/pilot-watchdog.ts';
import type { PilotLauncher } from '#domain/pilots.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { createLogger } from '#runtime/log.ts';

let launcher: Promise<PilotLauncher> | undefined;

/** ECS tasks where the stack configured them (PILOT_CLUSTER); local child processes under the local stack. */
function pilotLauncher(env: NodeJS.ProcessEnv): Promise<PilotLauncher> {
  launcher ??= (async () => {
    const ecs = ecsPilotLauncherFromEnv(env);
    if (ecs) return ecs;
    if (!env.TESTBED_STATE_DIR)
      throw new Error(
        'no pilot launcher: set PILOT_CLUSTER (ECS tasks) or TESTBED_STATE_DIR (local processes)',
      );
    const { localPilotLauncher } = await import('#local/pilot-launcher.ts');
    return localPilotLauncher({ stateDir: env.TESTBED_STATE_DIR, env });
  })().catch((error: unknown) => {
    launcher = undefined;
    throw error;
  });
  return launcher;
}

// Built once per execution environment, as the handlers' environment() is.
const db = dynamoClient();

/** The scheduled pilot watchdog (an EventBridge rule, every minute): needs the tables and ECS, not the broker. */
export const handler = async (): Promise<{ runs: WatchOutcome[] }> => {
  const log = createLogger({ service: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'pilot-watchdog' });
  const runs = await watchPilots({
    db,
    tableNames: tableNames(),
    log,
    launcher: await pilotLauncher(process.env),
  });
  return { runs };
};
