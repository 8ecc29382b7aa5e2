import { stopRuns } from '#domain/runs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { handlerDeps } from '../deps.ts';

export const handler = mqHandler('run_stop', handlerDeps, stopRuns);
