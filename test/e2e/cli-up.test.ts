import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upLockFile } from '#local/up-lock.ts';
import { smallRun, testbed } from '../support/cli.ts';
import {
  eventually,
  spawnTestbed,
  stopTestStack,
  type TestStack,
  testStack,
} from '../support/local-stack.ts';

/** Processes whose command line holds `script` and whose environment names the state folder `dir`. */
function processesOf(script: string, dir: string): number[] {
  return readdirSync('/proc')
    .filter((f) => /^\d+$/.test(f))
    .filter((pid) => {
      try {
        return (
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(script) &&
          readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`TESTBED_STATE_DIR=${dir}`)
        );
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    })
    .map(Number);
}

describe('testbed up, started twice at once on a stopped stack', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await testStack('testbed-cli-up-');
  });
  afterAll(async () => {
    await stopTestStack(s);
  });

  it('starts one stack that both use, taking over the lock a dead command left', async () => {
    // Prepare: a lock left by a command that died mid-start (its pid no longer runs).
    const dead = spawnSync('true').pid as number;
    mkdirSync(join(s.stack.stateDir, 'run'), { recursive: true });
    writeFileSync(upLockFile(s.stack.stateDir), String(dead));
    // Act
    const [a, b] = await Promise.all([spawnTestbed(['up'], s.env).done, spawnTestbed(['up'], s.env).done]);
    // Assess
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const firstLines = [a, b].map((r) => r.stdout.split('\n')[0]).sort();
    expect(firstLines[0]).toMatch(/^local stack up in [\d.]+ s /);
    expect(firstLines[1]).toMatch(
      /^(local stack up: started by testbed pid \d+ meanwhile|the local stack was already up) /,
    );
    expect(`${a.stderr}${b.stderr}`).not.toMatch(/^\s+at /m);
    expect(processesOf('supervisor-main.ts', s.stack.stateDir)).toHaveLength(1);
    expect(processesOf('runner-main.ts', s.stack.stateDir)).toHaveLength(1);
  }, 240_000);

  it('says the stack was already up on a second up, and prints the table testbed status prints', async () => {
    // Act
    const again = await testbed(['up'], s.env);
    const status = await testbed(['status'], s.env);
    // Assess
    expect(again.code, again.stderr).toBe(0);
    const [first, ...table] = again.stdout.trim().split('\n');
    expect(first).toBe(`the local stack was already up (state in ${s.stack.stateDir})`);
    expect(table[0]).toMatch(/^service\s+state\s+pid\s+restarts\s+last_restart\s+address$/);
    expect(status.stdout.startsWith(`${table.join('\n')}\n`)).toBe(true);
    expect(again.stdout).not.toContain('(index)');
  }, 120_000);

  it('waits while another command holds the start, starting nothing meanwhile, then starts the stack', async () => {
    // Prepare: this test holds the lock, as a testbed command starting the stack would.
    await testbed(['down'], s.env);
    writeFileSync(upLockFile(s.stack.stateDir), String(process.pid));
    // Act
    const up = spawnTestbed(['up'], s.env);
    await eventually('up waiting', () =>
      up.lines.some(
        (l) => l.text === `waiting for testbed (pid ${process.pid}), which is starting the local stack…`,
      ),
    );
    const whileWaiting = processesOf('supervisor-main.ts', s.stack.stateDir);
    rmSync(upLockFile(s.stack.stateDir));
    const result = await up.done;
    // Assess
    expect(whileWaiting).toEqual([]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^local stack up in [\d.]+ s /);
    expect(existsSync(upLockFile(s.stack.stateDir))).toBe(false);
  }, 240_000);

  it('shares one stack start between two testbed run started together on a stopped stack', async () => {
    // Prepare
    await testbed(['down'], s.env);
    // Act: two namespaces, so that each CLI follows its own run.
    const runIn = (ns: string) => spawnTestbed([...smallRun, '--namespace', ns], s.env).done;
    const [a, b] = await Promise.all([runIn('alice'), runIn('bob')]);
    // Assess
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(`${a.stderr}${b.stderr}`).toMatch(
      /waiting for testbed \(pid \d+\), which is starting the local stack…/,
    );
    expect(`${a.stderr}${b.stderr}`).not.toMatch(/^\s+at /m);
    expect(processesOf('supervisor-main.ts', s.stack.stateDir)).toHaveLength(1);
  }, 300_000);
});
