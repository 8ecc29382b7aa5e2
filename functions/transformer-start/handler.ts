import { environmentDeps } from '#domain/deps.ts';
import { recordTransformerStart } from '#domain/pilots.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('transformer_start', environmentDeps, recordTransformerStart);
