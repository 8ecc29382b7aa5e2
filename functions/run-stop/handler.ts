import { environmentDeps } from '#domain/deps.ts';
import { stopRuns } from '#domain/runs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('run_stop', environmentDeps, stopRuns);
