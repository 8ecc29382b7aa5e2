import { describe, expect, it } from 'vitest';
import { type DebianPackage, ensureDebianPackages, type Host } from '#local/debian-packages.ts';

const packages: DebianPackage[] = [
  { pkg: 'activemq', path: '/usr/share/activemq/bin/activemq.jar' },
  { pkg: 'chromium', path: '/usr/bin/chromium' },
  { pkg: 'python3-stomp', path: '/usr/lib/python3/dist-packages/stomp/__init__.py' },
];

/** A machine with some files, where apt-get installs what it is asked for (after an update, if told so). */
function fakeHost(o: {
  uid: number;
  debian?: boolean;
  files: string[];
  needsUpdate?: boolean;
  installs?: boolean;
}) {
  const files = new Set(o.files);
  const calls: string[][] = [];
  let updated = !o.needsUpdate;
  const host: Host = {
    uid: o.uid,
    debian: o.debian ?? true,
    exists: (path) => files.has(path),
    apt: (args) => {
      calls.push([...args]);
      if (args[0] === 'update') updated = true;
      else if (!updated) throw new Error('E: Unable to locate package');
      else if (o.installs !== false) for (const p of packages) if (args.includes(p.pkg)) files.add(p.path);
    },
  };
  return { host, calls };
}

describe('ensureDebianPackages', () => {
  it('does nothing when every file is there', () => {
    const { host, calls } = fakeHost({ uid: 0, files: packages.map((p) => p.path) });
    const log: string[] = [];
    ensureDebianPackages(packages, (l) => log.push(l), host);
    expect(calls).toEqual([]);
    expect(log).toEqual([]);
  });

  it('names only the missing packages and the command when not root, and runs nothing', () => {
    const { host, calls } = fakeHost({ uid: 1000, files: ['/usr/share/activemq/bin/activemq.jar'] });
    expect(() => ensureDebianPackages(packages, () => {}, host)).toThrow(
      'Debian packages missing: chromium python3-stomp (no /usr/bin/chromium, ' +
        '/usr/lib/python3/dist-packages/stomp/__init__.py). ' +
        'Install with: sudo apt-get install --no-install-recommends chromium python3-stomp',
    );
    expect(calls).toEqual([]);
  });

  it('refuses apt-get as root off Debian', () => {
    const { host, calls } = fakeHost({ uid: 0, debian: false, files: [] });
    expect(() => ensureDebianPackages(packages.slice(0, 1), () => {}, host)).toThrow(
      'Debian package missing: activemq',
    );
    expect(calls).toEqual([]);
  });

  it('as root installs every missing package in one apt-get call, logged in one line', () => {
    const { host, calls } = fakeHost({ uid: 0, files: ['/usr/bin/chromium'] });
    const log: string[] = [];
    ensureDebianPackages(packages, (l) => log.push(l), host);
    expect(calls).toEqual([['install', '-y', '-q', '--no-install-recommends', 'activemq', 'python3-stomp']]);
    expect(log).toEqual([
      'Debian packages missing: installing activemq python3-stomp with apt-get (once)...',
    ]);
  });

  it('updates the package lists and tries again when the install fails', () => {
    const { host, calls } = fakeHost({ uid: 0, files: [], needsUpdate: true });
    ensureDebianPackages(packages.slice(2), () => {}, host);
    const install = ['install', '-y', '-q', '--no-install-recommends', 'python3-stomp'];
    expect(calls).toEqual([install, ['update', '-q'], install]);
  });

  it('fails when apt-get succeeds but the file is still missing', () => {
    const { host } = fakeHost({ uid: 0, files: [], installs: false });
    expect(() => ensureDebianPackages(packages.slice(1, 2), () => {}, host)).toThrow(
      'apt-get installed chromium but /usr/bin/chromium is missing',
    );
  });
});
