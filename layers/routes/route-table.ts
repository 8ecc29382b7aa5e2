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

/**
 * How many queues the broker spreads `slice_result` over, each read by its own event source mapping of the
 * slice-result function: one mapping runs at most 5 concurrent invocations (Lambda's limit for Amazon MQ), so
 * N queues lift the results' ceiling N-fold (bench/README.md, the capacity model). A divisor of 10, as the
 * selector spreads by the last digit of the message id.
 */
export const resultQueueCounts = [1, 2, 5, 10] as const;
export type ResultQueues = (typeof resultQueueCounts)[number];

/** The environment variable the local stack reads the count from (the CDK stack takes a prop). */
export const RESULT_QUEUES_ENV = 'TESTBED_RESULT_QUEUES';

export function resultQueuesFrom(env: NodeJS.ProcessEnv = process.env): ResultQueues {
  const v = env[RESULT_QUEUES_ENV];
  if (v === undefined || v === '') return 1;
  const n = Number(v);
  if (!resultQueueCounts.includes(n as ResultQueues))
    throw new Error(`${RESULT_QUEUES_ENV} must be one of ${resultQueueCounts.join(', ')}, not "${v}"`);
  return n as ResultQueues;
}

/**
 * `slice_result`'s route spread over `n` queues by the last digit of the JMSMessageID, which ends with the
 * producer's sequence number: results of every pilot, ours or upstream's, are spread with no producer
 * change. Queue k takes the digits d with d mod n = k (for n = 5, k = 3: 3 and 8). Queue 0 keeps the
 * name of a single queue, so what is sent straight to the handler's queue (headerless forwarding, replays)
 * is read whatever n the stack has.
 */
function spread(r: Route, n: ResultQueues): Route[] {
  if (n === 1) return [r];
  return Array.from({ length: n }, (_, k) => {
    const digits = Array.from({ length: 10 / n }, (_, i) => k + i * n);
    return {
      ...r,
      name: k === 0 ? r.name : `${r.name}.${k}`,
      selector: `${r.selector} AND (${digits.map((d) => `JMSMessageID LIKE '%${d}'`).join(' OR ')})`,
    };
  });
}

/**
 * The route table with `slice_result` spread over `resultQueues` queues: the broker configuration, the CDK
 * handlers and the local runner all take it.
 */
export const routeTable = (resultQueues: ResultQueues = 1): readonly Route[] => [
  ...messageRoutes.flatMap((r) => (r.msgType === 'slice_result' ? spread(r, resultQueues) : [r])),
  headerlessRoute,
];

/** The table of this process: `slice_result` over TESTBED_RESULT_QUEUES queues, one by default. */
export const routes: readonly Route[] = routeTable(resultQueuesFrom());

/** The queue a handler reads (without `/queue/`, as ActiveMQ's XML and Lambda's `Queues` want it). */
export const handlerQueue = (r: Route): string => `swf.handler.${r.name}`;

/** Where the broker parks what the handler could not take (ActiveMQ's individual DLQ prefix). */
export const deadLetterQueue = (r: Route): string => `DLQ.${handlerQueue(r)}`;

/** The handler of a message type, if any handler here takes it. */
export function routeFor(msgType: string): Route | undefined {
  return messageRoutes.find((r) => r.msgType === msgType);
}
