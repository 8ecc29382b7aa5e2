import { environmentDeps } from '#domain/deps.ts';
import { recordTransformerEnd } from '#domain/pilots.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('transformer_end', environmentDeps, recordTransformerEnd);
