import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient } from '#messaging/failures.ts';

// The CLI's one way through an outage: what reads DynamoDB or talks to the broker is tried again while
// the failure is transient (the part is away: refused, reset, timed out), says once that it waits and for
// what, and carries on when the part is back. Anything else fails as before.

export interface Patience {
  /** What is awaited, as the line says it: "DynamoDB", "the broker"; or told by the error. */
  readonly what: string | ((error: unknown) => string);
  /** Where the waiting and the return are said (the progress line, or stderr). */
  readonly say: (line: string) => void;
  /**
   * Asked before each retry, with what is awaited: a sentence when waiting is pointless (the stack is
   * down, the part was left down by its supervisor), which ends the wait with that sentence.
   */
  readonly hopeless?: (what: string) => string | undefined;
  /** No retry after this (epoch ms). @default none */
  readonly deadline?: number;
  /** Called with how long each outage lasted once the part is back (`testbed run` stretches its deadline). */
  readonly waited?: (ms: number) => void;
  /** @default 250 */
  readonly initialMs?: number;
  /** @default 2000 */
  readonly maxMs?: number;
}

/** The failure in a few words: the SDK's and Node's errors put their cause in different places. */
export function describeFailure(error: unknown): string {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const { message, code, errors, name } = e as {
      message?: unknown;
      code?: unknown;
      errors?: unknown[];
      name?: unknown;
    };
    if (typeof message === 'string' && message.trim() !== '')
      // The SDK's request timeout starts with its package and level: the rest says it.
      return (message.trim().split('\n')[0] as string).replace(/^@smithy\/[\w-]+ - \[\w+\] /, '');
    // Node's connection attempts to several addresses end in an AggregateError without a message.
    if (Array.isArray(errors) && errors.length > 0) return describeFailure(errors[0]);
    if (typeof code === 'string') return code;
    if (typeof name === 'string' && name !== 'Error') return name;
    e = (e as { cause?: unknown }).cause;
  }
  return String(error);
}

/** Runs `op` until it succeeds or fails for a reason that is not an outage; see Patience. */
export async function patiently<T>(op: () => Promise<T>, o: Patience): Promise<T> {
  let since: number | undefined;
  let said = '';
  let what = typeof o.what === 'string' ? o.what : '';
  let delay = o.initialMs ?? 250;
  for (;;) {
    try {
      const value = await op();
      if (since !== undefined) {
        const ms = Date.now() - since;
        o.say(`${what} is back (waited ${(ms / 1000).toFixed(0)} s)`);
        o.waited?.(ms);
      }
      return value;
    } catch (error) {
      if (!isTransient(error)) throw error;
      what = typeof o.what === 'string' ? o.what : o.what(error);
      const why = o.hopeless?.(what);
      if (why !== undefined) throw new Error(`${what} does not answer (${describeFailure(error)}): ${why}`);
      if (o.deadline !== undefined && Date.now() + delay > o.deadline) throw error;
      since ??= Date.now();
      const line = `waiting for ${what}… (${describeFailure(error)})`;
      // Said when it changes, not at every attempt.
      if (line !== said) o.say(line);
      said = line;
      await sleep(delay);
      delay = Math.min(o.maxMs ?? 2000, delay * 2);
    }
  }
}
