// Upstream's agents publish the JSON body alone: no msg_type, run_id or namespace header, not persistent.
// The broker forwards such messages from every topic a handler reads into one queue (the route table's
// headerless route); here each is classified by its body and sent on with our headers, recorded, or parked.
import {
  ContractError,
  decodeMessage,
  isMsgType,
  MAX_BODY_BYTES,
  type Message,
  type ParseOptions,
} from '#contract/messages.ts';
import { fromEpochMicros, nowTimestamp, parseTimestamp } from '#contract/timestamps.ts';
import { stompHeaders } from '#contract/wire.ts';
import { NO_RUN, recordMessages, type TakenMessage } from '#messaging/message-log.ts';
import { type MqMessage, messageBody } from '#messaging/mq-event.ts';
import { park } from '#messaging/park.ts';
import { handlerQueue, headerlessRoute, routeFor } from '#routes/route-table.ts';
import { type DomainDeps, settleAll } from './deps.ts';

/** What a message without our headers is, by its body. */
export type Classification =
  /** A type a handler here takes: sent to that handler's queue with the headers our producers send. */
  | { readonly kind: 'forward'; readonly message: Message; readonly destination: string }
  /** Well-formed, but no handler here takes its type (upstream-only types, stop_transformer): recorded only. */
  | { readonly kind: 'record'; readonly message: Message; readonly note: string }
  /** Unusable (not JSON, no msg_type, refused by the contract): parked with the reason, and its run if named. */
  | { readonly kind: 'park'; readonly reason: string; readonly runId?: string };

export interface ClassifyOptions extends ParseOptions {
  /** When the broker took the message, epoch ms: created_at for bodies with none. */
  readonly receivedAt: number;
}

/** Header that marks a message this handler sent on, so a dead letter says where it came from. */
const FORWARDED_BY = 'forwarded_by';

/**
 * Classifies one body. The contract decides for every type it knows; a JSON object whose `msg_type` it does
 * not know is an upstream component's message, which must be recorded rather than parked.
 */
export function classifyByBody(raw: string | Uint8Array, opts: ClassifyOptions): Classification {
  try {
    const message = decodeMessage(raw, opts);
    const route = routeFor(message.msg_type);
    if (route) return { kind: 'forward', message, destination: `/queue/${handlerQueue(route)}` };
    return { kind: 'record', message, note: `no handler here takes ${message.msg_type}` };
  } catch (error) {
    if (!(error instanceof ContractError)) throw error;
    const body = jsonObject(raw);
    const type = body?.msg_type;
    if (body && typeof type === 'string' && type !== '' && !isMsgType(type)) {
      return {
        kind: 'record',
        message: upstreamMessage(body, opts.receivedAt),
        note: `unknown msg_type ${type}`,
      };
    }
    const reason =
      error.reason === 'msg_type: required'
        ? 'msg_type: required, in the body when no header names it'
        : error.reason;
    const runId = runIdOf(body?.run_id);
    return { kind: 'park', reason, ...(runId !== undefined && { runId }) };
  }
}

/** What one batch came to. */
export interface ByBodyOutcome {
  readonly forwarded: number;
  readonly recorded: number;
  readonly parked: number;
}

/**
 * Sends each message whose type a handler here takes to that handler's queue (not to the topic, so no
 * subscriber sees it twice), persistent and with msg_type, run_id, namespace, vo and an expiry; records
 * what no handler takes; parks what cannot be used. A failed send throws, so the batch is redelivered and
 * forwarded again: a duplicate forward is a duplicate message, which every handler absorbs.
 */
export async function routeByBody(messages: readonly MqMessage[], deps: DomainDeps): Promise<ByBodyOutcome> {
  const forwards: { m: MqMessage; message: Message; destination: string }[] = [];
  const taken: TakenMessage[] = [];
  const refusals: { m: MqMessage; reason: string; runId?: string }[] = [];
  for (const m of messages) {
    const c = classifyByBody(messageBody(m), { headers: m.properties, receivedAt: m.timestamp });
    if (c.kind === 'forward') forwards.push({ m, message: c.message, destination: c.destination });
    else if (c.kind === 'record') {
      taken.push({ m, message: c.message });
      deps.log.info('recorded in the message log only: no handler here takes its msg_type', {
        msg_type: c.message.msg_type,
        run_id: c.message.run_id,
        sender: c.message.sender,
        namespace: c.message.namespace,
        messageId: m.messageID,
        note: c.note,
      });
    } else {
      taken.push({ m, refused: c.reason });
      refusals.push({ m, reason: c.reason, ...(c.runId !== undefined && { runId: c.runId }) });
    }
  }
  // Forwarded messages are recorded by the handler that takes them.
  const recording = recordMessages(deps, headerlessRoute.name, taken);
  try {
    await settleAll(
      forwards.map(({ m, message, destination }) =>
        deps.broker.publish(destination, messageBody(m).toString('utf8'), {
          ...stompHeaders(message),
          [FORWARDED_BY]: headerlessRoute.name,
        }),
      ),
    );
  } finally {
    await recording;
  }
  if (forwards.length > 0) {
    deps.log.info('messages without a msg_type header forwarded by their body', {
      forwarded: forwards.length,
      msg_types: countBy(forwards.map((f) => f.message.msg_type)),
      run_ids: [...new Set(forwards.map((f) => f.message.run_id))],
    });
  }
  // Parked only once the forwards are with the broker: a failed batch comes back whole, refusals with it.
  for (const { m, reason, runId } of refusals) {
    await park(deps.broker, deps.log, {
      queue: handlerQueue(headerlessRoute),
      body: messageBody(m).toString('utf8'),
      // The run the body names, so that `testbed dlq list --run` finds it.
      headers: { ...(runId !== undefined && { run_id: runId }), ...m.properties },
      reason,
      handler: headerlessRoute.name,
      messageId: m.messageID,
    });
  }
  return { forwarded: forwards.length, recorded: taken.length - refusals.length, parked: refusals.length };
}

function jsonObject(raw: string | Uint8Array): Record<string, unknown> | undefined {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
  if (size > MAX_BODY_BYTES) return undefined;
  try {
    const v: unknown = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function runIdOf(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  return typeof v === 'string' && /^\d+$/.test(v) ? v : undefined;
}

function timestampOf(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    return parseTimestamp(v);
  } catch {
    return undefined;
  }
}

/**
 * A message of a type the contract does not know, in the envelope the message log records: flat bodies
 * nested as the contract nests them. The message log takes it as it takes any message; it is never sent.
 */
function upstreamMessage(body: Record<string, unknown>, receivedAt: number): Message {
  const { msg_type, run_id, created_at, timestamp, namespace, sender, ...rest } = body;
  const runId = runIdOf(run_id);
  const content =
    runId === undefined
      ? // Kept whole, and out of the lookups: an execution id must not be tied to no run.
        { body }
      : typeof rest.content === 'object' && rest.content !== null
        ? rest.content
        : rest;
  return {
    msg_type,
    run_id: runId ?? NO_RUN,
    created_at:
      timestampOf(created_at) ??
      timestampOf(timestamp) ??
      (Number.isFinite(receivedAt) ? fromEpochMicros(Math.round(receivedAt * 1000)) : nowTimestamp()),
    ...(text(namespace) !== undefined && { namespace }),
    ...(text(sender) !== undefined && { sender }),
    content,
  } as unknown as Message;
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
