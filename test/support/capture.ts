import type { BrokerPort, ReceivedMessage } from '#broker/port.ts';

/** Collects what arrives on a destination, for assertions; `until` waits for a count. */
export interface Capture {
  readonly messages: ReceivedMessage[];
  until(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  stop(): Promise<void>;
}

export async function capture(broker: BrokerPort, destination: string, selector?: string): Promise<Capture> {
  const messages: ReceivedMessage[] = [];
  const sub = broker.subscribe(destination, { ack: 'auto', ...(selector ? { selector } : {}) }, (m) => {
    messages.push(m);
  });
  await sub.ready;
  return {
    messages,
    async until(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`${destination}: ${messages.length} of ${count} messages after ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return messages;
    },
    stop: () => sub.unsubscribe(),
  };
}
