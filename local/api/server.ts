import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { handleApi, isApiPath } from '#query/api.ts';
import type { Monitor } from '#query/monitor.ts';
import { projectRoot } from '../state.ts';

/** The dashboard: plain files, no build step. */
export const webDir = join(projectRoot, 'web');

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

export interface MonitorServerOptions {
  readonly monitor: Monitor;
  /** @default 0: a free port */
  readonly port?: number;
  /** Loopback only: the API has no authentication locally. */
  readonly host?: '127.0.0.1' | '::1';
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface MonitorServer {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

/** The local monitor: the read-only JSON API under /api and the dashboard at /, on loopback. */
export async function startMonitorServer(o: MonitorServerOptions): Promise<MonitorServer> {
  const log = o.log ?? (() => {});
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, headers: Record<string, string>, body: string | Buffer) => {
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (isApiPath(url.pathname)) {
      handleApi(
        o.monitor,
        { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams) },
        (error) => log('API request failed', { path: url.pathname, error: String(error) }),
      ).then(
        (r) => send(r.status, r.headers, JSON.stringify(r.body)),
        (error: unknown) => {
          log('API request failed', { path: url.pathname, error: String(error) });
          send(500, { 'content-type': 'application/json' }, JSON.stringify({ error: 'internal error' }));
        },
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }, 'read-only\n');
      return;
    }
    const file = staticFile(url.pathname);
    if (!file) {
      send(404, { 'content-type': 'text/plain' }, 'not found\n');
      return;
    }
    send(
      200,
      { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' },
      readFileSync(file),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A file under web/ (index.html for /), never one outside it. */
function staticFile(pathname: string): string | undefined {
  let relative: string;
  try {
    relative = normalize(decodeURIComponent(pathname === '/' ? '/index.html' : pathname));
  } catch {
    return undefined;
  }
  const file = join(webDir, relative);
  if (!file.startsWith(webDir + sep)) return undefined;
  return existsSync(file) && statSync(file).isFile() ? file : undefined;
}
