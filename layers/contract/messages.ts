import * as z from 'zod';
import { DEFAULT_TTL_MS, MAX_BODY_BYTES, stompHeaders } from './headers.ts';
import {
  type Content,
  type ContentInput,
  contentSchemas,
  isMsgType,
  type MsgType,
  msgTypes,
  timestamp,
} from './schemas.ts';
import { fromEpochMicros, nowTimestamp } from './timestamps.ts';

export * from './schemas.ts';

export { DEFAULT_TTL_MS, MAX_BODY_BYTES };

/** The canonical envelope of a message of type T; unknown top-level fields are kept. */
export type Message<T extends MsgType = MsgType> = {
  [K in T]: {
    msg_type: K;
    run_id: string;
    created_at: string;
    namespace?: string;
    sender?: string;
    content: Content<K>;
    [field: string]: unknown;
  };
}[T];

/** A message we refuse; `reason` is one line naming the field, fit for a log line or a parked message. */
export class ContractError extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.name = 'ContractError';
    this.reason = reason;
  }
}

export interface ParseOptions {
  /** When the broker took the message (epoch ms, or any timestamp style): created_at for bodies with none. */
  receivedAt?: number | string;
  /** Transport headers or properties: `msg_type` and `run_id`, when present, must agree with the body. */
  headers?: Readonly<Record<string, string | undefined>>;
}

export interface MakeOptions {
  namespace?: string;
  sender?: string;
  /** Any timestamp style; defaults to now. */
  createdAt?: string;
}

export interface EncodeOptions {
  /** Time to live in ms, sent as the absolute `expires` header and as upstream's `ttl` property. */
  ttlMs?: number;
}

export interface EncodedMessage {
  body: string;
  headers: Record<string, string>;
}

const runId = z.unknown().transform((v, ctx) => {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return v;
  const message = v === undefined ? 'required' : `expected digits, got ${JSON.stringify(v)}`;
  ctx.issues.push({ code: 'custom', message, input: v });
  return z.NEVER;
});

const envelopeKeys = ['msg_type', 'run_id', 'created_at', 'namespace', 'sender'];

const envelopes = Object.fromEntries(
  msgTypes.map((t) => [
    t,
    z.looseObject({
      msg_type: z.literal(t),
      run_id: runId,
      created_at: timestamp,
      namespace: z.string().optional(),
      sender: z.string().optional(),
      content: contentSchemas[t],
    }),
  ]),
) as unknown as Record<MsgType, z.ZodType<Message>>;

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

/** Upstream DAQ messages are flat, with `timestamp` for `created_at`: nest them like ours. */
function nest(
  body: Record<string, unknown>,
  receivedAt: number | string | undefined,
): Record<string, unknown> {
  const isEnvelope = ([key]: [string, unknown]) => envelopeKeys.includes(key);
  const entries = Object.entries(body);
  const nested: Record<string, unknown> =
    body.content !== undefined
      ? { ...body }
      : {
          ...Object.fromEntries(entries.filter(isEnvelope)),
          content: Object.fromEntries(entries.filter((e) => !isEnvelope(e))),
        };
  const fallback =
    typeof receivedAt === 'number' ? fromEpochMicros(Math.round(receivedAt * 1000)) : receivedAt;
  nested.created_at = body.created_at ?? body.timestamp ?? fallback;
  return nested;
}

const requiredWhenMissing = (iss: { input?: unknown }) => (iss.input === undefined ? 'required' : undefined);

/** Validate and normalise a decoded body (flat or nested) into a canonical message; throws ContractError. */
export function parseMessage(body: unknown, opts: ParseOptions = {}): Message {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ContractError(`body: expected a JSON object, got ${kindOf(body)}`);
  }
  const record = body as Record<string, unknown>;
  const msgType = record.msg_type;
  if (msgType === undefined) throw new ContractError('msg_type: required');
  if (!isMsgType(msgType)) throw new ContractError(`unknown msg_type ${JSON.stringify(msgType)}`);
  const result = envelopes[msgType].safeParse(nest(record, opts.receivedAt), { error: requiredWhenMissing });
  if (!result.success) {
    const issues = result.error.issues.map(
      (i) => `${[msgType, ...i.path].map(String).join('.')}: ${i.message}`,
    );
    throw new ContractError(issues.join('; '));
  }
  const msg = result.data;
  for (const [name, value] of [
    ['msg_type', msg.msg_type],
    ['run_id', msg.run_id],
  ] as const) {
    const header = opts.headers?.[name];
    if (header !== undefined && header !== value) {
      throw new ContractError(
        `header ${name} ${JSON.stringify(header)} disagrees with the body's ${JSON.stringify(value)}`,
      );
    }
  }
  return msg;
}

/** Raw broker body -> canonical message; throws ContractError for oversize, non-JSON or invalid bodies. */
export function decodeMessage(raw: string | Uint8Array, opts: ParseOptions = {}): Message {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
  if (size > MAX_BODY_BYTES) {
    throw new ContractError(`body is ${size} bytes, over the limit of ${MAX_BODY_BYTES} bytes`);
  }
  const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw);
  if (text.trim() === '') throw new ContractError('empty body');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new ContractError(`not JSON: ${(err as Error).message}`);
  }
  return parseMessage(body, opts);
}

/** Build a canonical message, validated so that our own producers cannot emit an invalid one. */
export function makeMessage<T extends MsgType>(
  msgType: T,
  runId: string | number,
  content: ContentInput<T>,
  opts: MakeOptions = {},
): Message<T> {
  const { namespace, sender, createdAt = nowTimestamp() } = opts;
  return parseMessage({
    msg_type: msgType,
    run_id: runId,
    created_at: createdAt,
    ...(namespace !== undefined && { namespace }),
    ...(sender !== undefined && { sender }),
    content,
  }) as Message<T>;
}

/** Body and STOMP headers for sending; the message is validated again on the way out. */
export function encodeMessage(msg: Message, opts: EncodeOptions = {}): EncodedMessage {
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
  const canonical = parseMessage(msg);
  const body = JSON.stringify(canonical);
  const size = Buffer.byteLength(body);
  if (size > MAX_BODY_BYTES) {
    throw new ContractError(`body is ${size} bytes, over the limit of ${MAX_BODY_BYTES} bytes`);
  }
  return { body, headers: stompHeaders(canonical, ttlMs) };
}
