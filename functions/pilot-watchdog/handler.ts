import { type WatchOutcome, watchPilots } from '#domain/pilot-watchdog.ts';
import { dynamoClient, tableNames } from '#runtime/env.ts';
import { createLogger } from '#runtime/log.ts';
import { pilotLauncherFromEnv } from '#runtime/pilot-launcher.ts';

// Built once per execution environment, as the handlers' environment() is.
const db = dynamoClient();

/** The scheduled pilot watchdog (an EventBridge rule, every minute): needs the tables and ECS, not the broker. */
export const handler = async (): Promise<{ runs: WatchOutcome[] }> => {
  const log = createLogger({ service: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'pilot-watchdog' });
  const runs = await watchPilots({
    db,
    tableNames: tableNames(),
    log,
    launcher: await pilotLauncherFromEnv(),
  });
  return { runs };
};
