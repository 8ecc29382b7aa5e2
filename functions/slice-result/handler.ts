import { recordSliceResults } from '#domain/slices.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { handlerDeps } from '../deps.ts';

export const handler = mqHandler('slice_result', handlerDeps, recordSliceResults);
