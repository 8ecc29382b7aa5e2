import { environmentDeps } from '#domain/deps.ts';
import { sliceStfs } from '#domain/stfs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('stf_ready', environmentDeps, sliceStfs);
