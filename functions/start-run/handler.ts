import { environmentDeps } from '#domain/deps.ts';
import { startRuns } from '#domain/runs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('start_run', environmentDeps, startRuns);
