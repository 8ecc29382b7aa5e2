import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import net from 'node:net';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerPid } from '#local/activemq.ts';
import { dynalitePid } from '#local/dynalite.ts';
import { pilotBundle } from '#local/pilot-launcher.ts';
import { readPid } from '#local/processes.ts';
import { apiDaemon, runnerDaemon } from '#local/stack-parts.ts';
import { readCredentials } from '#runtime/credentials.ts';
import type { CliResult } from '../support/cli.ts';
import { type ReliabilityStack, reliabilityStack } from './reliability-stack.ts';

/** What one CONNECT frame gets back from the broker: its command and `message` header. */
function stompConnect(port: number, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const done = () => {
      socket.destroy();
      const [command = '', ...lines] = received.replace(/^\n+/, '').split('\0')[0]?.split('\n') ?? [];
      const message = lines.find((l) => l.startsWith('message:'));
      resolve(message ? `${command} ${message}` : command);
    };
    socket.setTimeout(10_000, () => reject(new Error('no answer to CONNECT')));
    socket.on('data', (d) => {
      received += d.toString('utf8');
      if (received.includes('\0')) done();
    });
    socket.on('close', done);
    socket.on('error', reject);
    const lines = Object.entries({ 'accept-version': '1.2', host: '/', ...headers }).map(
      ([k, v]) => `${k}:${v}`,
    );
    socket.write(`CONNECT\n${lines.join('\n')}\n\n\0`);
  });
}

/** Loopback addresses as /proc/net/tcp{,6} write them (IPv4 little-endian per word). */
function isLoopback(hex: string): boolean {
  if (hex.length === 8) return hex.slice(6, 8) === '7F';
  if (hex === '00000000000000000000000001000000') return true; // ::1
  return hex.startsWith('0000000000000000FFFF0000') && hex.slice(30, 32) === '7F'; // ::ffff:127.x.y.z
}

/** Every TCP socket a process listens on: address as /proc/net writes it, and the port. */
function listening(pid: number): { address: string; port: number }[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        return [/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]].filter(Boolean);
      } catch {
        return [];
      }
    }),
  );
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((table) =>
    readFileSync(table, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[3] === '0A' && inodes.has(f[9] as string))
      .map((f) => {
        const [address = '', port = '0'] = (f[1] as string).split(':');
        return { address, port: Number.parseInt(port, 16) };
      }),
  );
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return [];
    return st.isDirectory() ? filesUnder(path) : st.isFile() ? [path] : [];
  });
}

/** Every process's command line (what any user may read), and our own processes' environments. */
function processes(): { pid: string; cmdline: string; environ: string }[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      const read = (f: string) => {
        try {
          return readFileSync(`/proc/${pid}/${f}`, 'utf8').replaceAll('\0', ' ');
        } catch {
          return '';
        }
      };
      return [{ pid, cmdline: read('cmdline'), environ: read('environ') }];
    });
}

describe('Security of the local stack', () => {
  let s: ReliabilityStack;
  let password: string;
  let user: string;
  let run: CliResult;
  const seen = { cmdlines: new Set<string>(), withPassword: [] as string[], pilots: 0 };

  beforeAll(async () => {
    s = await reliabilityStack('security');
    const up = await s.cli(['up']);
    if (up.code !== 0) throw new Error(up.stderr);
    ({ user, password } = readCredentials(s.stackEnv.BROKER_CREDENTIALS_FILE as string));
    // Watch every process on the machine while a run with pilots goes on.
    const sample = () => {
      for (const p of processes()) {
        // Any process's command line: what every user of the machine can read (ps).
        if (p.cmdline.includes(password)) seen.withPassword.push(p.cmdline);
        if (!p.cmdline.includes(s.stateDir) && !p.environ.includes(s.stateDir)) continue;
        // The stack's processes: their environment too (owner-only, but inherited by every child).
        seen.cmdlines.add(p.cmdline);
        if (p.cmdline.includes(pilotBundle(s.stateDir))) seen.pilots++;
        if (p.environ.includes(password)) seen.withPassword.push(`environment of ${p.cmdline}`);
      }
    };
    const timer = setInterval(sample, 100);
    try {
      run = await s.cli(
        [
          'run',
          'prompt_processing',
          '--no-realtime',
          '--stf-count',
          '2',
          '--physics-period-count',
          '1',
          '--workers',
          '2',
          '--set',
          'prompt_processing.slice_processing_time=0.2',
        ],
        120_000,
      );
    } finally {
      clearInterval(timer);
    }
    sample();
  }, 180_000);

  afterAll(async () => {
    await s?.down();
  });

  it.each([
    ['an anonymous client', {}],
    ['an empty login', { login: '', passcode: '' }],
    ['a wrong password', { login: 'testbed', passcode: 'not-the-password' }],
    ['an unknown user', { login: 'intruder', passcode: '*' }],
  ])('refuses %s', async (_, headers) => {
    // Act
    const answer = await stompConnect(s.stack.stompPort, headers);
    // Assess
    expect(answer).toMatch(/^ERROR message:User name \[.*\] or password is invalid/);
  });

  it('lets the generated user in (the refusals above are about the credentials)', async () => {
    // Act
    const answer = await stompConnect(s.stack.stompPort, { login: user, passcode: password });
    // Assess
    expect(answer).toBe('CONNECTED');
  });

  it('listens on loopback only, in every process of the stack', () => {
    // Prepare
    const pids = [
      brokerPid(s.stateDir),
      dynalitePid(s.stateDir),
      readPid(runnerDaemon(s.stateDir)),
      readPid(apiDaemon(s.stateDir)),
    ];
    // Act
    const sockets = pids.flatMap((pid) => listening(pid as number));
    // Assess
    expect(pids.every((p) => p !== undefined)).toBe(true);
    expect(sockets.map((x) => x.port)).toEqual(
      expect.arrayContaining([s.stack.stompPort, s.stack.dynamodbPort, s.stack.apiPort]),
    );
    expect(sockets.filter((x) => !isLoopback(x.address))).toEqual([]);
  });

  it('shows the password in no command line and no environment of its processes, pilots included', () => {
    // Assess
    expect(run.code, run.stderr).toBe(0);
    expect(seen.pilots).toBeGreaterThan(0);
    expect([...seen.cmdlines].some((c) => c.includes('runner-main.ts'))).toBe(true);
    expect([...seen.cmdlines].some((c) => c.includes('activemq.jar'))).toBe(true);
    expect(seen.withPassword).toEqual([]);
  });

  it('keeps the password in the credentials file and the broker configuration only, both owner-only', () => {
    // Act
    const holding = filesUnder(s.stateDir).filter((f) => readFileSync(f).includes(password));
    const logs = filesUnder(join(s.stateDir, 'logs'));
    // Assess
    expect(logs.map((f) => relative(s.stateDir, f))).toEqual(
      expect.arrayContaining(['logs/runner.log', 'logs/activemq.log', 'logs/daq-simulator.log']),
    );
    expect(logs.some((f) => f.includes(join('logs', 'pilots')))).toBe(true);
    expect(holding.map((f) => relative(s.stateDir, f)).sort()).toEqual([
      'broker/activemq.xml',
      'credentials.json',
    ]);
    for (const f of holding) expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    'refuses %s on the monitor API and the dashboard with 405',
    async (method) => {
      // Prepare
      const base = `http://127.0.0.1:${s.stack.apiPort}`;
      // Act
      const [api, page, read] = await Promise.all([
        fetch(`${base}/api/runs`, { method, body: method === 'DELETE' ? undefined : '{}' }),
        fetch(`${base}/`, { method, body: method === 'DELETE' ? undefined : '{}' }),
        fetch(`${base}/api/runs`),
      ]);
      // Assess
      expect(api.status).toBe(405);
      expect(page.status).toBe(405);
      expect(read.status).toBe(200);
    },
  );
});
