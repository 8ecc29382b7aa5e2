// The pilot launcher's composition, apart from functions/deps.ts: only the entries that start or watch
// pilots carry the ECS launcher in their bundle.

import type { PilotLauncher } from '#domain/pilot-launcher-port.ts';
import { ecsPilotLauncherFromEnv } from '#ecs/pilot-launcher.ts';

let launcher: Promise<PilotLauncher> | undefined;

/**
 * The pilot launcher the environment names, once per process: ECS tasks where the stack configured them
 * (PILOT_CLUSTER), local child processes under the local stack (TESTBED_STATE_DIR).
 */
export function pilotLauncher(env: NodeJS.ProcessEnv = process.env): Promise<PilotLauncher> {
  launcher ??= (async () => {
    const ecs = ecsPilotLauncherFromEnv(env);
    if (ecs) return ecs;
    if (!env.TESTBED_STATE_DIR)
      throw new Error(
        'no pilot launcher: set PILOT_CLUSTER (ECS tasks) or TESTBED_STATE_DIR (local processes)',
      );
    // Imported on first use, and left out of every Lambda bundle (functions/bundling.ts): a Lambda function
    // never launches local processes.
    const { localPilotLauncher } = await import('#local/pilot-launcher.ts');
    return localPilotLauncher({ stateDir: env.TESTBED_STATE_DIR, env });
  })().catch((error: unknown) => {
    launcher = undefined;
    throw error;
  });
  return launcher;
}
