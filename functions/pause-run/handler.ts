import { pauseRuns } from '#domain/runs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { handlerDeps } from '../deps.ts';

export const handler = mqHandler('pause_run', handlerDeps, pauseRuns);
