import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every test folder lives under one root per run. Brokers, dynalites and pilots are detached processes:
 * a test worker that dies or times out never reaches its afterAll, so the teardown kills whatever a pid
 * file under the root still names.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'testbed-tests-'));
  process.env.TESTBED_TEST_ROOT = root;
  return () => {
    for (const file of pidFiles(root)) {
      const pid = Number(readFileSync(file, 'utf8'));
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(root, { recursive: true, force: true });
  };
}

function pidFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return pidFiles(path);
    return name.endsWith('.pid') ? [path] : [];
  });
}
