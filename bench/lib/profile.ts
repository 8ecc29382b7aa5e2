import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '#local/state.ts';

/** A V8 CPU profile as `--cpu-prof` writes it. */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  /** Busy time, idle excluded, in ms. */
  readonly busyMs: number;
  /** Share of busy time by where the code lives (a package, a folder of ours, Node, GC), largest first. */
  readonly areas: readonly (readonly [string, number])[];
  /** Share of busy time by function (self time), largest first. */
  readonly functions: readonly (readonly [string, number])[];
}

/** The profiles `--cpu-prof` wrote into `dir` for process `pid` (or all of them). */
export function profilesOf(dir: string, pid?: number): string[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return files.filter((f) => pid === undefined || f.split('.')[3] === String(pid)).map((f) => join(dir, f));
}

function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName === '(garbage collector)' ? 'V8: garbage collection' : 'V8: other';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  const path = url.replace(/^file:\/\//, '').replace(`${projectRoot}/`, '');
  return path.split('/').slice(0, 2).join('/');
}

/** Self time by area and by function over one or more profiles of one kind of process. */
export function summariseProfiles(files: readonly string[], top = 12): ProfileSummary {
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    p.samples.forEach((id, i) => {
      const frame = byId.get(id);
      const us = p.timeDeltas[i] ?? 0;
      if (!frame || frame.functionName === '(idle)') return;
      busy += us;
      const area = areaOf(frame.url, frame.functionName);
      areas.set(area, (areas.get(area) ?? 0) + us);
      const where = frame.url === '' ? '' : ` (${areaOf(frame.url, '')})`;
      const name = `${frame.functionName || '(anonymous)'}${where}`;
      functions.set(name, (functions.get(name) ?? 0) + us);
    });
  }
  const shares = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => [k, busy === 0 ? 0 : v / busy] as const);
  return { busyMs: busy / 1000, areas: shares(areas), functions: shares(functions) };
}

/** One kind of profiled process, summarised. */
export interface ProfileSection {
  readonly name: string;
  readonly summary: ProfileSummary;
}

/**
 * The profiles of a `--profile` run: the lone transformer, the pipeline's transformers and the runner (its
 * pid picks its profile among the stack's processes); a kind whose stage did not run is left out.
 */
export function profileSections(profileDir: string, runnerPid?: number): ProfileSection[] {
  const kinds: [string, string, number?][] = [
    ['one transformer, zero-cost slices (2a)', '1-transformers'],
    ['4 transformers in the pipeline (3a, 4)', 'pipeline-transformers'],
    ['the local Lambda runner in the pipeline (3a, 4)', 'stack', runnerPid],
  ];
  return kinds
    .filter(([, dir]) => existsSync(join(profileDir, dir)))
    .map(([name, dir, pid]) => ({
      name,
      summary: summariseProfiles(profilesOf(join(profileDir, dir), pid)),
    }));
}
