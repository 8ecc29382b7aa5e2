import { isTransient } from '#messaging/failures.ts';

/** How the local runner retries a batch whose handler threw, as Lambda's MQ poller does. */
export interface RetryPolicy {
  /** Redeliveries a failing batch gets before each of its messages is parked. @default 6, Lambda's */
  readonly maximumRedeliveries: number;
  /** Wait before redelivering a batch that failed for good reason. @default 1000, as Lambda's poller */
  readonly redeliveryDelayMs: number;
  /** First wait after a transient failure, doubled on each one after it. @default 500 */
  readonly backoffInitialMs: number;
  /** Longest wait after a transient failure. @default 30000 */
  readonly backoffMaxMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maximumRedeliveries: 6,
  redeliveryDelayMs: 1000,
  backoffInitialMs: 500,
  backoffMaxMs: 30_000,
};

/** What to do with a batch after a failed invocation. */
export type Verdict =
  | { readonly retry: true; readonly transient: boolean; readonly delayMs: number }
  /** Every redelivery spent: park each message, `failures` invocations failed for it. */
  | { readonly retry: false; readonly failures: number };

/**
 * The failures of one batch. A transient failure (unavailable infrastructure, `isTransient`) is waited out
 * with exponential back-off and indefinitely, without spending a redelivery: an outage stalls a queue, it
 * does not park its messages. Any other failure spends one, a second apart, and the last one parks.
 */
export class BatchRetries {
  private failures = 0;
  private transientInARow = 0;

  constructor(private readonly policy: RetryPolicy = defaultRetryPolicy) {}

  failed(error: unknown): Verdict {
    if (isTransient(error)) {
      const delayMs = Math.min(
        this.policy.backoffInitialMs * 2 ** this.transientInARow,
        this.policy.backoffMaxMs,
      );
      this.transientInARow++;
      return { retry: true, transient: true, delayMs };
    }
    this.transientInARow = 0;
    this.failures++;
    if (this.failures > this.policy.maximumRedeliveries) return { retry: false, failures: this.failures };
    return { retry: true, transient: false, delayMs: this.policy.redeliveryDelayMs };
  }
}
