import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { badRequest, type Page } from './bounds.ts';
import { type LogLine, type LogQuery, type LogSource, logLine, matches } from './logs.ts';

const CHUNK = 64 * 1024;
/** What one page may read of one file; a page past it ends short, with `next` where it stopped. */
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

interface Candidate {
  readonly line: LogLine;
  /** Byte offset of the line's start: where the next page resumes in this file. */
  readonly pos: number;
}

/**
 * The local stack's JSON-line logs (`<state>/logs/**.log`: the runner, the pilots), newest first. Each file
 * is read backwards from its end (or from the cursor of the previous page) until `limit` + 1 lines match or
 * `maxBytes` are read; the files' lines are merged by time. `next` holds a byte offset per file, and is
 * given only when a matching line follows (or a file was read only up to `maxBytes`).
 */
export function localLogSource(dir: string, o: { maxBytesPerFile?: number } = {}): LogSource {
  const maxBytes = o.maxBytesPerFile ?? DEFAULT_MAX_BYTES;
  return {
    name: `files under ${dir}`,
    async read(q: LogQuery): Promise<Page<LogLine>> {
      const cursor = decodeCursor(q.next);
      // One line more than a page per file: whether another page follows is then known, not guessed.
      const want = q.limit + 1;
      const files = logFiles(dir).filter((f) => !ofOtherRun(f, q));
      const scans = files.map((path) => {
        const name = relative(dir, path);
        const start = Math.min(cursor[name] ?? statSync(path).size, statSync(path).size);
        return { name, start, ...scanBackwards(path, name, start, q, want, maxBytes) };
      });
      // A k-way merge, newest first, keeps each file's lines in file order: what is taken is a prefix.
      const taken = scans.map(() => 0);
      const items: LogLine[] = [];
      while (items.length < q.limit) {
        let best = -1;
        for (const [i, s] of scans.entries()) {
          const c = s.candidates[taken[i] as number];
          if (
            c &&
            (best < 0 || c.line.time > (scans[best]?.candidates[taken[best] as number]?.line.time ?? ''))
          )
            best = i;
        }
        if (best < 0) break;
        const scan = scans[best] as (typeof scans)[number];
        items.push((scan.candidates[taken[best] as number] as Candidate).line);
        taken[best] = (taken[best] as number) + 1;
      }
      const offsets: Record<string, number> = { ...cursor };
      for (const [i, s] of scans.entries()) {
        const t = taken[i] as number;
        if (t > 0) offsets[s.name] = (s.candidates[t - 1] as Candidate).pos;
        else offsets[s.name] = s.candidates.length === 0 ? s.scannedTo : s.start;
      }
      // A next page only when a line is known to follow: one left over, or a file read only in part.
      const more = scans.some(
        (s, i) =>
          (taken[i] as number) < s.candidates.length || (s.candidates.length < want && s.scannedTo > 0),
      );
      return { items, ...(more && { next: encodeCursor(offsets) }) };
    },
  };
}

function logFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return logFiles(path);
    return e.isFile() && e.name.endsWith('.log') ? [path] : [];
  });
}

/** A pilot's log is named after the pilot, `<run_id>-pNN.log`: another run's holds nothing of this one. */
const ofOtherRun = (path: string, q: LogQuery): boolean =>
  q.runId !== undefined && path.includes('/pilots/') && !basename(path).startsWith(`${q.runId}-`);

function scanBackwards(
  path: string,
  name: string,
  start: number,
  q: LogQuery,
  want: number,
  maxBytes: number,
): { candidates: Candidate[]; scannedTo: number } {
  const candidates: Candidate[] = [];
  const chunkSize = Math.min(CHUNK, maxBytes);
  const fd = openSync(path, 'r');
  let pos = start;
  let rest = Buffer.alloc(0);
  let scannedTo = start;
  let read = 0;
  const take = (bytes: Buffer, at: number) => {
    scannedTo = at;
    const text = bytes.toString('utf8').trim();
    if (!text.startsWith('{')) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return;
    }
    const line = logLine(parsed, name);
    if (line && matches(line, q)) candidates.push({ line, pos: at });
  };
  try {
    while (pos > 0 && read < maxBytes && candidates.length < want) {
      const from = Math.max(0, pos - chunkSize);
      const chunk = Buffer.alloc(pos - from);
      readSync(fd, chunk, 0, chunk.length, from);
      read += chunk.length;
      const buf = Buffer.concat([chunk, rest]);
      let lineEnd = buf.length;
      for (let i = buf.length - 1; i >= 0 && candidates.length < want; i--) {
        if (buf[i] !== 0x0a) continue;
        take(buf.subarray(i + 1, lineEnd), from + i + 1);
        lineEnd = i;
      }
      if (candidates.length >= want) return { candidates, scannedTo };
      rest = buf.subarray(0, lineEnd);
      pos = from;
      scannedTo = pos + rest.length;
    }
    if (pos === 0 && candidates.length < want) {
      if (rest.length > 0) take(rest, 0);
      scannedTo = 0;
    }
    return { candidates, scannedTo };
  } finally {
    closeSync(fd);
  }
}

function encodeCursor(offsets: Record<string, number>): string {
  return Buffer.from(JSON.stringify({ files: offsets }), 'utf8').toString('base64url');
}

function decodeCursor(token: string | undefined): Record<string, number> {
  if (token === undefined) return {};
  try {
    const { files } = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { files: unknown };
    if (files !== null && typeof files === 'object' && !Array.isArray(files)) {
      const entries = Object.entries(files as Record<string, unknown>);
      if (entries.every(([, v]) => Number.isSafeInteger(v) && (v as number) >= 0))
        return Object.fromEntries(entries) as Record<string, number>;
    }
  } catch {
    // Refused below.
  }
  throw badRequest('next: not a token this query returned');
}
