// The logger port: what the domain, the runtime and the local stack log through (layers/log/logger.ts builds it).

/**
 * Fields of a JSON line (Powertools' shape: `level`, `message`, `timestamp`, `service`, then these keys), as
 * CloudWatch and `testbed logs` read them. An Error under `error` is written with its name, message and stack.
 */
export type LogFields = Record<string, unknown>;

/** The part of Lambda's invocation context the log lines carry (request id, function, cold start). */
export interface LambdaContext {
  readonly awsRequestId: string;
  readonly functionName?: string;
  readonly functionVersion?: string;
  readonly invokedFunctionArn?: string;
  readonly memoryLimitInMB?: string;
  getRemainingTimeInMillis?(): number;
}

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` (e.g. handler, run_id, execution_id) to every line; `service` renames it. */
  child(fields: LogFields): Logger;
  /**
   * The logger of one Lambda invocation: the context's request id and cold start on its lines and on those of
   * the loggers made from this one from now on, and `fields`. Absent from test doubles.
   */
  forInvocation?(context: LambdaContext, fields?: LogFields): Logger;
}
