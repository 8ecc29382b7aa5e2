import { recordTransformerStart } from '#domain/pilot-lifecycle.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { handlerDeps } from '../deps.ts';

export const handler = mqHandler('transformer_start', handlerDeps, recordTransformerStart);
