import { routeByBody } from '#domain/headerless.ts';
import type { MqEvent } from '#messaging/mq-event.ts';
import { handlerDeps } from '../deps.ts';

/** Messages that came without a msg_type header (upstream's agents send none): routed by their body. */
export const handler = async (event: MqEvent) => routeByBody(event.messages, await handlerDeps());
