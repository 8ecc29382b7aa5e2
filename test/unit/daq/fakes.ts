import type { BrokerPort, Subscription } from '#broker/port.ts';
import { decodeMessage, type Message } from '#contract/messages.ts';
import type { DaqClock } from '#domain/daq-clock.ts';
import { createLogger } from '#log/logger.ts';

/** A broker that only records what is published: these tests are about the DAQ walk, not transport. */
export function recordingBroker(): BrokerPort & {
  readonly sent: Message[];
  readonly destinations: string[];
} {
  const sent: Message[] = [];
  const destinations: string[] = [];
  return {
    sent,
    destinations,
    async publish(destination, body, headers) {
      destinations.push(destination);
      sent.push(decodeMessage(body, { headers: headers ?? {} }));
    },
    subscribe(): Subscription {
      throw new Error('not used by the DAQ simulator');
    },
    async close() {},
  };
}

/** Simulated wall time: `sleep` advances it at once and is recorded. */
export function fakeClock(start = Date.UTC(2026, 6, 20, 14, 0, 0)): DaqClock & {
  readonly start: number;
  readonly sleeps: number[];
  elapsed(): number;
} {
  let now = start;
  const sleeps: number[] = [];
  return {
    start,
    sleeps,
    now: () => now,
    async sleep(ms) {
      sleeps.push(ms);
      now += ms;
    },
    elapsed: () => now - start,
  };
}

export const quietLog = createLogger({}, () => {});

/** `msg_type` and, for STFs, the sequence: what two runs must agree on. */
export const walk = (messages: readonly Message[]): string[] =>
  messages.map((m) => (m.msg_type === 'stf_gen' ? `stf_gen#${String(m.content.sequence)}` : m.msg_type));
