import { environmentDeps } from '#domain/deps.ts';
import { resumeRuns } from '#domain/runs.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('resume_run', environmentDeps, resumeRuns);
