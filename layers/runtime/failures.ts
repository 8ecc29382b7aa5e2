/**
 * Whether an error says a part the handler depends on is away (refused or dropped connection, timeout,
 * throttling, a 5xx), so that trying again later may succeed: such a failure stalls a message, it does not
 * make it poison. Anything else (a bug, a refusal, a missing table) is not transient.
 */
export function isTransient(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (isTransientOne(e)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
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
