import { recordTransformerEnd } from '#domain/pilots.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { handlerDeps } from '../deps.ts';

export const handler = mqHandler('transformer_end', handlerDeps, recordTransformerEnd);
