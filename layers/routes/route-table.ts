import { type Destination, destinations } from './destinations.ts';

/**
 * One handler per message type. Everything that routes reads this table: the broker configuration
 * (topic -> filtered queue forwarding), the CDK event source mappings and the local runner.
 */
export interface Route {
  /** Handler folder under `functions/`, also the Lambda function's logical name. */
  readonly handler: string;
  /** The message type this handler takes (the `msg_type` header the broker filters on). */
  readonly msgType: string;
  /** Where producers send this type. */
  readonly from: Destination;
}

const route = (msgType: string, from: Destination): Route => ({
  handler: msgType.replaceAll('_', '-'),
  msgType,
  from,
});

export const routes: readonly Route[] = [
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

/** The queue a handler reads (without `/queue/`, as ActiveMQ's XML and Lambda's `Queues` want it). */
export const handlerQueue = (r: Route): string => `swf.handler.${r.msgType}`;

/** Where the broker parks what the handler could not take (ActiveMQ's individual DLQ prefix). */
export const deadLetterQueue = (r: Route): string => `DLQ.${handlerQueue(r)}`;

export function routeFor(msgType: string): Route | undefined {
  return routes.find((r) => r.msgType === msgType);
}
