import type { ServiceStatus, SupervisorStatus } from '#local/stack-status.ts';
import { cliTime } from './format.ts';
import { table } from './table.ts';

/** The stack's parts: health, what the supervisor does with them, restarts; then what a person should know. */
export function serviceTable(services: ServiceStatus[], supervisor?: SupervisorStatus): string {
  const rows = services.map((r) => ({
    service: r.service,
    state:
      r.phase !== undefined && r.phase !== 'running'
        ? r.phase
        : r.pid === undefined
          ? 'stopped'
          : r.healthy
            ? 'healthy'
            : 'unhealthy',
    pid: r.pid,
    restarts: r.restarts,
    last_restart: r.last_restart
      ? `${cliTime(r.last_restart.at)} ${r.last_restart.reason}`
      : r.restarts === undefined
        ? undefined
        : '-',
    address: r.address,
  }));
  const notes = services.filter((r) => r.message).map((r) => `${r.service}: ${r.message}`);
  if (supervisor)
    notes.unshift(
      `supervisor: ${supervisor.running ? `pid ${supervisor.pid}, restarts what dies` : supervisor.message} (log ${supervisor.log})`,
    );
  return [table(rows, ['service', 'state', 'pid', 'restarts', 'last_restart', 'address']), ...notes].join(
    '\n',
  );
}

/** Says why the stack does not serve, and what starts it; undefined when all is well. */
export function stackHint(services: ServiceStatus[], supervisor: SupervisorStatus): string | undefined {
  if (services.every((r) => r.pid === undefined) && !supervisor.running)
    return 'the local stack is not up: testbed up starts it (testbed run prompt_processing does too)';
  if (!services.every((r) => r.healthy) || !supervisor.running)
    return 'part of the local stack is down: testbed up starts it again';
  return undefined;
}
