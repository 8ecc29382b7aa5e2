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

/** The handlers of the message types a topic carries, each by the `msg_type` header the broker filters on. */
const routesFrom = (from: Destination, ...msgTypes: MsgType[]): Route[] =>
  msgTypes.map((t) => route(t, from));

/** The handler of each message type. */
export const messageRoutes: readonly Route[] = [
  ...routesFrom(destinations.epic, 'run_imminent', 'start_run', 'pause_run', 'resume_run', 'stf_gen'),
  ...routesFrom(destinations.epic, 'end_run', 'stf_ready'),
  ...routesFrom(destinations.workers, 'run_stop', 'adjuster_worker'),
  ...routesFrom(destinations.results, 'slice_result', 'transformer_start', 'transformer_heartbeat'),
  ...routesFrom(destinations.results, 'transformer_end'),
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
