import { environmentDeps } from '#domain/deps.ts';
import { recordSliceResults } from '#domain/slices.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

export const handler = mqHandler('slice_result', environmentDeps, recordSliceResults);
