// `npm run bench`: every benchmark in turn, each starting its own broker, each printing its table.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

for (const bench of ['broker.ts', 'runner.ts']) {
  console.log(`\n## ${bench}`);
  execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(bench, import.meta.url))], {
    stdio: 'inherit',
  });
}
