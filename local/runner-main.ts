// The local Lambda runner as a process of its own, started by `testbed up`.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { routes } from '#routes/route-table.ts';
import { environment } from '#runtime/env.ts';
import { type MqHandler, startRunner } from './runner.ts';
import { runnerReadyFile } from './stack.ts';
import { projectRoot } from './state.ts';

const env = await environment();
const log = env.log.child({ service: 'runner' });
const available = routes.filter((r) => {
  const found = existsSync(join(projectRoot, 'functions', r.handler, 'handler.ts'));
  if (!found) log.warn('no handler for this route: its queue is not consumed', { handler: r.handler });
  return found;
});
const runner = await startRunner({
  broker: env.broker,
  routes: available,
  load: async (r) => {
    const url = pathToFileURL(join(projectRoot, 'functions', r.handler, 'handler.ts')).href;
    return (await import(url)).handler as MqHandler;
  },
  log: (record) => log.info(String(record.msg ?? ''), record),
});
writeFileSync(runnerReadyFile(env.env.TESTBED_STATE_DIR ?? '.'), String(process.pid));
log.info('runner ready', { handlers: available.map((r) => r.handler) });

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await runner.stop();
    await env.broker.close();
    log.info('runner stopped', { ...runner.stats });
    process.exit(0);
  });
}
