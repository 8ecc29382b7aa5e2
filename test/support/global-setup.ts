import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { activemqPackage } from '#local/activemq.ts';
import { type DebianPackage, ensureDebianPackages } from '#local/debian-packages.ts';

/** The Debian packages the tests use: installed here when absent, so `vitest run` alone works on a fresh machine. */
export const testPackages: readonly DebianPackage[] = [
  // The integration and end-to-end tests start their own brokers.
  activemqPackage,
  // The dashboard test drives it through playwright-core, which brings no browser of its own.
  { pkg: 'chromium', path: '/usr/bin/chromium' },
  // The Python transformer test runs it under Debian's /usr/bin/python3.
  { pkg: 'python3-stomp', path: '/usr/lib/python3/dist-packages/stomp/__init__.py' },
];

/**
 * Every test folder lives under one root per run. Brokers, dynalites and pilots are detached processes:
 * a test worker that dies or times out never reaches its afterAll, so the teardown kills whatever a pid
 * file under the root still names.
 */
export default function setup(): () => void {
  ensureDebianPackages(testPackages);
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
    // TESTBED_KEEP_TEST_ROOT=1 keeps the stacks' logs and records to read after a failure.
    if (process.env.TESTBED_KEEP_TEST_ROOT) console.error(`test folders kept in ${root}`);
    else rmSync(root, { recursive: true, force: true });
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

// Run as a script (`.ci/run` does, through sudo, when it is not root), it only installs the packages.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  ensureDebianPackages(testPackages);
