/**
 * What domain code, handlers, the local runner and the transformer need from the message broker.
 * One implementation talks STOMP to ActiveMQ (`stomp-broker.ts`); tests may pass a fake.
 */
export interface BrokerPort {
  /**
   * Sends a persistent message and resolves once the broker has stored it (STOMP receipt).
   * Sets `persistent: 'true'` and, unless the caller gave one, `expires` (absolute epoch ms, 12 h ahead).
   * While the connection is down the message waits and is sent after reconnecting: delivery is at least
   * once (a message whose receipt was lost with the connection is sent again).
   */
  publish(destination: string, body: string, headers?: Record<string, string>): Promise<void>;
  /**
   * Starts consuming at once and again after every reconnect, with the same options.
   * `onMessage` may be async; an error it throws or rejects with is logged and leaves the message unacked.
   */
  subscribe(
    destination: string,
    options: SubscribeOptions,
    onMessage: (m: ReceivedMessage) => void | Promise<void>,
  ): Subscription;
  /** Stops reconnecting, sends what is in flight, and disconnects. Waiting publishes are rejected. */
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /** JMS selector on headers, e.g. `run_id = '42'`. */
  readonly selector?: string;
  /** `auto`: the broker forgets a message once sent; `client-individual`: the consumer acks each message. */
  readonly ack: 'auto' | 'client-individual';
  /** Unacked messages the broker lets this consumer hold (`activemq.prefetchSize`). @default the broker's (1000 for queues) */
  readonly prefetch?: number;
  /**
   * Browse a queue instead of consuming it (ActiveMQ's `browser: true`): the messages stay on the queue, and
   * after the last one the broker sends one more, with the header `browser: end` and no body. Use `ack: 'auto'`.
   */
  readonly browse?: boolean;
}

export interface ReceivedMessage {
  /** The body decoded as UTF-8. */
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly destination: string;
  readonly messageId: string;
  readonly redelivered: boolean;
  /** Acknowledges the message. A no-op in `auto` mode and once the connection it came on is gone. */
  ack(): void;
  /**
   * Refuses the message for good. ActiveMQ treats a STOMP NACK as poison and, without a redelivery plugin,
   * parks it in `DLQ.<queue>` at once, with no reason: to retry, leave it unacked; to refuse, park it with a
   * reason and ack it. A no-op in `auto` mode and once its connection is gone.
   */
  nack(): void;
}

export interface Subscription {
  /** Resolves once the broker has confirmed the subscription (first connection only). */
  readonly ready: Promise<void>;
  /** Stops consuming; unacked messages go back to the broker. */
  unsubscribe(): Promise<void>;
}
