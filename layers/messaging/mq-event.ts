import type { ReceivedMessage } from '#broker/port.ts';

/** One message of the event Lambda's Amazon MQ (ActiveMQ) event source mapping delivers. */
export interface MqMessage {
  readonly messageID: string;
  /** A STOMP frame with content-length arrives as a BytesMessage, without it as a TextMessage. */
  readonly messageType: 'jms/text-message' | 'jms/bytes-message';
  /** Base64 of the body. */
  readonly data: string;
  readonly redelivered: boolean;
  readonly destination: { readonly physicalName: string };
  readonly timestamp: number;
  readonly brokerInTime: number;
  readonly brokerOutTime: number;
  readonly deliveryMode: 1 | 2;
  readonly expiration?: number;
  readonly priority?: number;
  /** Application headers (JMS properties): msg_type, run_id, namespace, vo, ... */
  readonly properties: Record<string, string>;
}

export interface MqEvent {
  readonly eventSource: 'aws:mq';
  readonly eventSourceArn: string;
  readonly messages: readonly MqMessage[];
}

/** STOMP headers that describe the frame or the JMS envelope, not the application. */
const envelopeHeaders = new Set([
  'destination',
  'message-id',
  'subscription',
  'ack',
  'content-length',
  'content-type',
  'expires',
  'priority',
  'timestamp',
  'persistent',
  'redelivered',
  'original-destination',
  'receipt',
]);

/** What the local runner hands a handler: the shape Lambda would give for the same broker message. */
export function toMqMessage(m: ReceivedMessage, receivedAt = Date.now()): MqMessage {
  const h = m.headers;
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (!envelopeHeaders.has(k)) properties[k] = v;
  const timestamp = Number(h.timestamp ?? receivedAt);
  const expires = Number(h.expires ?? 0);
  return {
    messageID: m.messageId,
    messageType: 'content-length' in h ? 'jms/bytes-message' : 'jms/text-message',
    data: Buffer.from(m.body, 'utf8').toString('base64'),
    redelivered: m.redelivered,
    destination: { physicalName: m.destination.replace(/^\/queue\//, '') },
    timestamp,
    brokerInTime: timestamp,
    brokerOutTime: receivedAt,
    deliveryMode: h.persistent === 'true' ? 2 : 1,
    ...(expires > 0 ? { expiration: expires } : {}),
    ...(h.priority ? { priority: Number(h.priority) } : {}),
    properties,
  };
}

export const localEventSourceArn = 'arn:aws:mq:local:000000000000:broker:testbed:local';

export const mqEvent = (messages: readonly MqMessage[]): MqEvent => ({
  eventSource: 'aws:mq',
  eventSourceArn: localEventSourceArn,
  messages,
});

export const messageBody = (m: MqMessage): Buffer => Buffer.from(m.data, 'base64');
