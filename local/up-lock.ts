import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './processes.ts';

// Commands started together share one start of the stack: the first holds the state folder's lock, the
// others wait for it.

export const upLockFile = (stateDir: string) => join(stateDir, 'run', 'up.lock');

/** A lock file whose writer died before writing its pid is stale after this long. */
const EMPTY_LOCK_STALE_MS = 5_000;

/**
 * Takes the state folder's `up` lock (a file created exclusively, holding our pid); while another live
 * process holds it, waits (at most `waitMs`). A lock left by a dead process is taken over. Resolves with the
 * pid waited for.
 */
export async function takeUpLock(
  stateDir: string,
  say: (line: string) => void,
  waitMs: number,
): Promise<number | undefined> {
  const file = upLockFile(stateDir);
  mkdirSync(dirname(file), { recursive: true });
  const deadline = Date.now() + waitMs;
  let waitedFor: number | undefined;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return waitedFor;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: number;
    let age: number;
    try {
      holder = Number(readFileSync(file, 'utf8').trim());
      age = Date.now() - statSync(file).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    const written = Number.isInteger(holder) && holder > 0;
    if (written ? !isAlive(holder) : age > EMPTY_LOCK_STALE_MS) {
      // Renamed aside, not removed: of two takers of one stale lock, only one moves it.
      try {
        renameSync(file, `${file}.stale-${process.pid}`);
        rmSync(`${file}.stale-${process.pid}`, { force: true });
      } catch {
        // the other taker moved it
      }
      continue;
    }
    if (written && waitedFor === undefined) {
      waitedFor = holder;
      say(`waiting for testbed (pid ${holder}), which is starting the local stack…`);
    }
    if (Date.now() > deadline)
      throw new Error(`the local stack is still being started by pid ${holder}: try again later`);
    await sleep(200);
  }
}

export function releaseUpLock(stateDir: string): void {
  const file = upLockFile(stateDir);
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // already gone
  }
}
