import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh folder under this test run's root, which the global teardown empties of processes and removes. */
export function testDir(prefix: string): string {
  const root = process.env.TESTBED_TEST_ROOT ?? tmpdir();
  mkdirSync(root, { recursive: true });
  return mkdtempSync(join(root, prefix));
}
