import { appendFileSync } from 'node:fs';
import type { LambdaContext, LogFields, Logger } from './port.ts';
import { powertoolsLogger } from './powertools.ts';

export type { LambdaContext, LogFields, Logger } from './port.ts';

/**
 * The logger of one invocation (Logger.forInvocation) when there is a Lambda context, else a child: a handler's
 * tests and the local runner call it without one.
 */
export function invocationLogger(
  log: Logger,
  context: Partial<LambdaContext> | undefined,
  fields: LogFields = {},
): Logger {
  return context?.awsRequestId !== undefined && log.forInvocation
    ? log.forInvocation(context as LambdaContext, fields)
    : log.child(fields);
}

/** A logger whose lines go to `write` (one JSON line each) or to stdout. */
export function createLogger(base: LogFields = {}, write?: (line: string) => void): Logger {
  return powertoolsLogger(base, write);
}

/** A process with a terminal of its own (the CLI running the DAQ simulator) logs to TESTBED_LOG_FILE. */
export function loggerFromEnv(base: LogFields, env: NodeJS.ProcessEnv = process.env): Logger {
  const file = env.TESTBED_LOG_FILE;
  return createLogger(base, file ? (line) => appendFileSync(file, `${line}\n`) : undefined);
}
