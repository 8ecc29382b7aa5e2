/**
 * Whether an error says a part the handler depends on is away (refused or dropped connection, timeout,
 * throttling, a 5xx), so that trying again later may succeed: such a failure stalls a message, it does not
 * make it poison. Anything else (a bug, a refusal, a missing table) is not transient.
 */
export function isTransient(error: unknown): boolean {
  return causes(error).some(isTransientOne);
}

/**
 * What a transient failure waits for, for a log line: DynamoDB when the AWS SDK raised it (the only AWS
 * service a handler reaches locally), else the broker.
 */
export function awaitedDependency(error: unknown): 'DynamoDB' | 'the broker' {
  return causes(error).some((e) => typeof e === 'object' && e !== null && '$metadata' in e)
    ? 'DynamoDB'
    : 'the broker';
}

/** The error, its causes, and the errors an AggregateError holds (Node's connect to several addresses). */
function causes(error: unknown, depth = 0): unknown[] {
  if (error === undefined || error === null || depth > 4) return [];
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  return [
    error,
    ...causes(cause, depth + 1),
    ...(Array.isArray(errors) ? errors.flatMap((e) => causes(e, depth + 1)) : []),
  ];
}

const transientCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const transientNames = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalFailure',
  'TransactionInProgressException',
]);

function isTransientOne(e: unknown): boolean {
  if (typeof e !== 'object') return false;
  const { code, name, message, $metadata, $retryable } = e as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  if (typeof code === 'string' && transientCodes.has(code)) return true;
  if (typeof name === 'string' && transientNames.has(name)) return true;
  if ($retryable !== undefined && $retryable !== null) return true;
  const status = $metadata?.httpStatusCode;
  if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
  // The broker port's own errors while its connection is down or being re-made.
  return (
    typeof message === 'string' &&
    /\b(ECONNREFUSED|ECONNRESET|socket hang up|not connected|connection (closed|lost))\b/i.test(message)
  );
}
