import { sliceStfs } from '#domain/stfs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { handlerDeps } from '../deps.ts';

export const handler = mqHandler('stf_ready', handlerDeps, sliceStfs);
