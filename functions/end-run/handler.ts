import { environmentDeps } from '#domain/deps.ts';
import { endRuns } from '#domain/runs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('end_run', environmentDeps, endRuns);
