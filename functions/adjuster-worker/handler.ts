import { environmentDeps } from '#domain/deps.ts';
import { adjustWorkers } from '#domain/pilots.ts';
import { mqHandler } from '#runtime/mq-handler.ts';
import { pilotLauncherFromEnv } from '#runtime/pilot-launcher.ts';

export const handler = mqHandler(
  'adjuster_worker',
  async () => ({ ...(await environmentDeps()), launcher: await pilotLauncherFromEnv() }),
  async (messages, deps) => void (await adjustWorkers(messages, deps)),
);
