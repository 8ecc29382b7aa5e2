import { environmentDeps } from '#domain/deps.ts';
import { openRuns } from '#domain/runs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('run_imminent', environmentDeps, openRuns);
