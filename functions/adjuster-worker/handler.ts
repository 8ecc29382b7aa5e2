import { adjustWorkers } from '#domain/worker-adjuster.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { handlerDeps } from '../deps.ts';
import { pilotLauncher } from '../pilot-launcher.ts';

export const handler = mqHandler(
  'adjuster_worker',
  async () => ({ ...(await handlerDeps()), launcher: await pilotLauncher() }),
  async (messages, deps) => void (await adjustWorkers(messages, deps)),
);
