// The local monitor as a process of its own, started by `testbed up`: the API and the dashboard.
import { writeFileSync } from 'node:fs';
import { createLogger } from '#log/logger.ts';
import { monitorContext } from '#query/context.ts';
import { Monitor } from '#query/monitor.ts';
import { apiReadyFile } from '../stack-parts.ts';
import { startMonitorServer } from './server.ts';

const log = createLogger({ service: 'monitor-api' });
const port = Number(process.env.TESTBED_API_PORT ?? 8642);
const server = await startMonitorServer({
  monitor: new Monitor(monitorContext(process.env)),
  port,
  log: (msg, fields) => log.error(msg, fields),
});
writeFileSync(apiReadyFile(process.env.TESTBED_STATE_DIR ?? '.'), String(process.pid));
log.info('monitor API ready', { url: server.url });

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, async () => {
    await server.close();
    process.exit(0);
  });
}
