import { environmentDeps } from '#domain/deps.ts';
import { recordTransformerHeartbeat } from '#domain/pilots.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('transformer_heartbeat', environmentDeps, recordTransformerHeartbeat);
