import { environmentDeps } from '#domain/deps.ts';
import { ecsPilotLauncherFromEnv } from '#domain/ecs-launcher.ts';
import { adjustWorkers, type PilotLauncher } from '#domain/pilots.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

let launcher: Promise<PilotLauncher> | undefined;

/** ECS tasks where the stack configured them (PILOT_CLUSTER); local child processes under the local stack. */
function pilotLauncher(env: NodeJS.ProcessEnv): Promise<PilotLauncher> {
  launcher ??= (async () => {
    const ecs = ecsPilotLauncherFromEnv(env);
    if (ecs) return ecs;
    if (!env.TESTBED_STATE_DIR) {
      throw new Error(
        'no pilot launcher: set PILOT_CLUSTER (ECS tasks) or TESTBED_STATE_DIR (local processes)',
      );
    }
    // Imported on first use: the local launcher resolves tsx when it loads, which a Lambda bundle has not.
    const { localPilotLauncher } = await import('#local/pilot-launcher.ts');
    return localPilotLauncher({ stateDir: env.TESTBED_STATE_DIR, env });
  })().catch((error: unknown) => {
    launcher = undefined;
    throw error;
  });
  return launcher;
}

export const handler = mqHandler(
  'adjuster_worker',
  async () => ({ ...(await environmentDeps()), launcher: await pilotLauncher(process.env) }),
  async (messages, deps) => void (await adjustWorkers(messages, deps)),
);
