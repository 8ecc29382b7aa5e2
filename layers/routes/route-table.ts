import type { MsgType } from '#contract/schemas.ts';
import { type Destination, destinations } from './destinations.ts';

/**
 * One handler per queue. Everything that routes reads this table: the broker configuration (topic ->
 * filtered queue forwarding), the CDK event source mappings and the local runner.
 */
export interface Route {
  /** Handler folder under `functions/`, also the Lambda function's logical name. */
  readonly handler: string;
  /** What the handler is known by in queue names, logs and dead-letter listings: `stf_gen`, `headerless`. */
  readonly name: string;
  /** The message type this handler takes; absent for the handler of messages that name none in a header. */
  readonly msgType?: MsgType;
  /** The topics the broker forwards into this handler's queue. */
  readonly from: readonly Destination[];
  /** The JMS selector (on headers) a message on one of those topics must match to be forwarded. */
  readonly selector: string;
}

const route = (msgType: MsgType, from: Destination): Route => ({
  handler: msgType.replaceAll('_', '-'),
  name: msgType,
  msgType,
  from: [from],
  selector: `msg_type = '${msgType}'`,
});

/** The handler of each message type, by the `msg_type` header the broker filters on. */
export const messageRoutes: readonly Route[] = [
  route('run_imminent', destinations.epic),
  route('start_run', destinations.epic),
  route('pause_run', destinations.epic),
  route('resume_run', destinations.epic),
  route('stf_gen', destinations.epic),
  route('end_run', destinations.epic),
  route('stf_ready', destinations.epic),
  route('run_stop', destinations.workers),
  route('adjuster_worker', destinations.workers),
  route('slice_result', destinations.results),
  route('transformer_start', destinations.results),
  route('transformer_heartbeat', destinations.results),
  route('transformer_end', destinations.results),
];

/**
 * Upstream's agents publish the JSON body alone, without a `msg_type` header: on every topic a handler reads,
 * such a message goes to this handler, which reads the type from the body and forwards it with our headers.
 * So does a message whose `msg_type` header no route takes, which would otherwise vanish as silently.
 */
export const headerlessRoute: Route = {
  handler: 'headerless',
  name: 'headerless',
  from: [...new Set(messageRoutes.flatMap((r) => r.from))],
  selector: `msg_type IS NULL OR msg_type NOT IN (${messageRoutes.map((r) => `'${r.msgType}'`).join(', ')})`,
};

export const routes: readonly Route[] = [...messageRoutes, headerlessRoute];

/** The queue a handler reads (without `/queue/`, as ActiveMQ's XML and Lambda's `Queues` want it). */
export const handlerQueue = (r: Route): string => `swf.handler.${r.name}`;

/** Where the broker parks what the handler could not take (ActiveMQ's individual DLQ prefix). */
export const deadLetterQueue = (r: Route): string => `DLQ.${handlerQueue(r)}`;

/** The handler of a message type, if any handler here takes it. */
export function routeFor(msgType: string): Route | undefined {
  return messageRoutes.find((r) => r.msgType === msgType);
}
