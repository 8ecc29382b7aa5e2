import { environmentDeps } from '#domain/deps.ts';
import { pauseRuns } from '#domain/runs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('pause_run', environmentDeps, pauseRuns);
