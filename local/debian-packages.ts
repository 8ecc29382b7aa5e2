import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A Debian package and a file it installs: the file being there is taken as the package being there. */
export interface DebianPackage {
  readonly pkg: string;
  readonly path: string;
}

/** What the check reads of the machine and how it runs apt-get; a test passes its own. */
export interface Host {
  readonly uid: number | undefined;
  readonly debian: boolean;
  exists(path: string): boolean;
  apt(args: readonly string[]): void;
}

export const thisHost = (): Host => ({
  uid: process.getuid?.(),
  debian: existsSync('/etc/debian_version'),
  exists: existsSync,
  apt: (args) =>
    execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }),
});

/**
 * Installs the packages whose file is missing, all in one apt-get call, when we may (root on Debian or
 * Ubuntu); otherwise throws one error naming them and the command that installs them.
 */
export function ensureDebianPackages(
  packages: readonly DebianPackage[],
  log: (line: string) => void = console.error,
  host: Host = thisHost(),
): void {
  const missing = (ps: readonly DebianPackage[]) => ps.filter((p) => !host.exists(p.path));
  const absent = missing(packages);
  if (absent.length === 0) return;
  const names = [...new Set(absent.map((p) => p.pkg))];
  const files = absent.map((p) => p.path).join(', ');
  if (host.uid !== 0 || !host.debian) {
    throw new Error(
      `Debian package${names.length > 1 ? 's' : ''} missing: ${names.join(' ')} (no ${files}). ` +
        `Install with: sudo apt-get install --no-install-recommends ${names.join(' ')}`,
    );
  }
  log(`Debian packages missing: installing ${names.join(' ')} with apt-get (once)...`);
  const install = ['install', '-y', '-q', '--no-install-recommends', ...names];
  try {
    host.apt(install);
  } catch {
    // Package lists absent (a fresh image) or stale: refresh them and try once more.
    host.apt(['update', '-q']);
    host.apt(install);
  }
  const still = missing(absent);
  if (still.length > 0) {
    throw new Error(
      `apt-get installed ${names.join(' ')} but ${still.map((p) => p.path).join(', ')} is missing`,
    );
  }
}
