import { environmentDeps } from '#domain/deps.ts';
import { registerStfs } from '#domain/stfs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('stf_gen', environmentDeps, registerStfs);
