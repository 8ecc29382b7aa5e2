import type { BrokerPort } from '#broker/port.ts';
import { type WatchOutcome, watchPilots } from '#domain/pilot-watchdog.ts';
import { createLogger, invocationLogger, type LambdaContext, type Logger } from '#log/logger.ts';
import { brokerFromEnv } from '#runtime/broker-env.ts';
import { replayTransientDeadLetters, type TransientReplayOutcome } from '#runtime/dead-letter-replay.ts';
import { dynamoClient, serviceName, tableNames } from '#runtime/env.ts';
import { pilotLauncher } from '../pilot-launcher.ts';

// Built once per execution environment, as the handlers' environment() is.
const db = dynamoClient();
const moduleLog = createLogger({ service: serviceName(process.env, 'pilot-watchdog') });
let broker: Promise<BrokerPort> | undefined;
const brokerOnce = (log: Logger): Promise<BrokerPort> => {
  broker ??= brokerFromEnv(process.env, log).catch((error) => {
    broker = undefined;
    throw error;
  });
  return broker;
};

/**
 * The scheduled watchdog (an EventBridge rule, every minute): replaces lost pilots (tables and ECS) and
 * replays messages the handlers parked after a transient failure (the broker). Each job runs whatever the
 * other's fate; a failed one fails the invocation, so that it is logged and kept in the dead-letter queue.
 */
export const handler = async (
  _event?: unknown,
  context?: LambdaContext,
): Promise<{ runs: WatchOutcome[]; deadLetters: TransientReplayOutcome }> => {
  const log = invocationLogger(moduleLog, context);
  const [runs, deadLetters] = await Promise.allSettled([
    (async () => watchPilots({ db, tableNames: tableNames(), log, launcher: await pilotLauncher() }))(),
    (async () =>
      replayTransientDeadLetters(await brokerOnce(log), log.child({ service: 'dead-letter-replay' })))(),
  ]);
  const failed = [runs, deadLetters].filter((r) => r.status === 'rejected');
  for (const r of failed) log.error('watchdog job failed', { error: r.reason });
  if (runs.status === 'rejected' || deadLetters.status === 'rejected') throw failed[0]?.reason;
  return { runs: runs.value, deadLetters: deadLetters.value };
};
