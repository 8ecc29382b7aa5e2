import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Credentials, readCredentials } from '#runtime/credentials.ts';

export type { Credentials };

export const projectRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Where the local stack keeps its data, logs, pid files and credentials (git-ignored). */
export const defaultStateDir = (): string => process.env.TESTBED_STATE_DIR ?? join(projectRoot, '.testbed');

/** Generated on first start, readable by the owner only; the password never leaves this file and the broker's. */
export function loadOrCreateCredentials(stateDir: string): Credentials {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = credentialsFile(stateDir);
  if (!existsSync(file)) {
    const fresh: Credentials = { user: 'testbed', password: randomBytes(24).toString('base64url') };
    writeFileSync(file, JSON.stringify(fresh), { mode: 0o600, flag: 'wx' });
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return readCredentials(file);
}

export const credentialsFile = (stateDir: string): string => join(stateDir, 'credentials.json');
