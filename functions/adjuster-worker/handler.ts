import { environmentDeps } from '#domain/deps.ts';
import { adjustWorkers, type PilotLauncher } from '#domain/pilots.ts';
import { localPilotLauncher } from '#local/pilot-launcher.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

let local: PilotLauncher | undefined;

/** Local child processes when the local stack runs this handler; ECS tasks in AWS (not built yet). */
function pilotLauncher(env: NodeJS.ProcessEnv): PilotLauncher {
  if (!env.TESTBED_STATE_DIR) {
    throw new Error('ECS launcher not configured: set TESTBED_STATE_DIR to launch pilots as local processes');
  }
  local ??= localPilotLauncher({ stateDir: env.TESTBED_STATE_DIR, env });
  return local;
}

export const handler = mqHandler(
  'adjuster_worker',
  async () => ({ ...(await environmentDeps()), launcher: pilotLauncher(process.env) }),
  async (messages, deps) => void (await adjustWorkers(messages, deps)),
);
