import { environmentDeps } from '#domain/deps.ts';
import { routeByBody } from '#domain/headerless.ts';
import type { MqEvent } from '#runtime/mq-event.ts';

/** Messages that came without a msg_type header (upstream's agents send none): routed by their body. */
export const handler = async (event: MqEvent) => routeByBody(event.messages, await environmentDeps());
