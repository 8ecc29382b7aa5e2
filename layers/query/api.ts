import { QueryError } from './bounds.ts';
import type { Monitor } from './monitor.ts';

/** An HTTP request as the local server and the Lambda (API Gateway / function URL) both see it. */
export interface ApiRequest {
  readonly method: string;
  /** The path, without the query string. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

type Params = Record<string, string>;
type Route = readonly [RegExp, (m: Monitor, path: string[], q: Params) => Promise<unknown>];

const withRun = (path: string[], q: Params) => ({ ...q, run_id: path[0] as string });

/** Read-only routes; path segments are taken as given and validated by the query they reach. */
const routes: readonly Route[] = [
  [/^\/api\/executions$/, (m, _, q) => m.executions(q)],
  [/^\/api\/executions\/([^/]+)$/, (m, [id], q) => m.execution({ ...q, execution_id: id })],
  [/^\/api\/runs$/, (m, _, q) => m.runs(q)],
  [/^\/api\/runs\/([^/]+)$/, (m, p, q) => m.run(withRun(p, q))],
  [/^\/api\/runs\/([^/]+)\/stf-files$/, (m, p, q) => m.stfFiles(withRun(p, q))],
  [/^\/api\/runs\/([^/]+)\/slices$/, (m, p, q) => m.slices(withRun(p, q))],
  [/^\/api\/runs\/([^/]+)\/pilots$/, (m, p, q) => m.pilots(withRun(p, q))],
  [/^\/api\/runs\/([^/]+)\/messages$/, (m, p, q) => m.messages(withRun(p, q))],
  [/^\/api\/runs\/([^/]+)\/delays$/, (m, p, q) => m.delays(withRun(p, q))],
  [/^\/api\/runs\/([^/]+)\/agents$/, (m, p, q) => m.agents(withRun(p, q))],
  [/^\/api\/runs\/([^/]+)\/logs$/, (m, p, q) => m.logs(withRun(p, q))],
  [/^\/api\/tasks$/, (m, _, q) => m.tasks(q)],
  [/^\/api\/tasks\/([^/]+)\/jobs$/, (m, [id], q) => m.pilots({ ...q, task_id: id })],
  [/^\/api\/messages$/, (m, _, q) => m.messages(q)],
  [/^\/api\/logs$/, (m, _, q) => m.logs(q)],
];

const json = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

const reply = (status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse => ({
  status,
  headers: { ...json, ...headers },
  body,
});

/** Whether a path is the API's (the rest is the dashboard's static files). */
export const isApiPath = (path: string): boolean => path === '/api' || path.startsWith('/api/');

/**
 * Answers one API request: 200 with JSON, 400 for malformed parameters, 404 for unknown paths and ids,
 * 405 for anything but GET (the API only reads), 500 with no detail for what went wrong inside.
 */
export async function handleApi(
  monitor: Monitor,
  req: ApiRequest,
  log: (error: unknown) => void = () => {},
): Promise<ApiResponse> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return reply(405, { error: `${req.method}: the monitor API is read-only (GET)` }, { allow: 'GET, HEAD' });
  const path = req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path;
  for (const [pattern, answer] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    try {
      const segments = match.slice(1).map((s) => decodeURIComponent(s));
      return reply(200, await answer(monitor, segments, { ...req.query }));
    } catch (error) {
      if (error instanceof QueryError) return reply(error.status, { error: error.message });
      if (error instanceof URIError) return reply(400, { error: `malformed path: ${req.path}` });
      log(error);
      return reply(500, { error: 'internal error: see the monitor log' });
    }
  }
  return reply(404, { error: `no such API path: ${req.path}` });
}
