import { routeByBody } from '#domain/headerless.ts';
import { invocationLogger, type LambdaContext } from '#log/logger.ts';
import type { MqEvent } from '#messaging/mq-event.ts';
import { handlerDeps } from '../deps.ts';

/** Messages that came without a msg_type header (upstream's agents send none): routed by their body. */
export const handler = async (event: MqEvent, context?: LambdaContext) => {
  const deps = await handlerDeps();
  return routeByBody(event.messages, { ...deps, log: invocationLogger(deps.log, context) });
};
