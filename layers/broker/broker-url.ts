import * as net from 'node:net';

/** One broker address to try: where, and whether over TLS. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

const defaultPorts = { stomp: 61613, 'stomp+ssl': 61614 } as const;

/** Splits a broker URL into the endpoints to try in turn. Credentials belong in the config, not the URL. */
export function parseBrokerUrl(url: string): Endpoint[] {
  const trimmed = url.trim();
  const failover =
    /^failover:\(([^)]*)\)(\?.*)?$/.exec(trimmed) ?? /^failover:([^()?]+)(\?.*)?$/.exec(trimmed);
  const parts = failover ? (failover[1] as string).split(',') : [trimmed];
  const endpoints = parts
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map(parseEndpoint);
  if (endpoints.length === 0) throw new Error(`broker URL names no endpoint: ${redactUrl(url)}`);
  return endpoints;
}

function parseEndpoint(text: string): Endpoint {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(
      `not a broker URL: ${redactUrl(text)} (expected stomp://host:port or stomp+ssl://host:port)`,
    );
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'stomp' && scheme !== 'stomp+ssl') {
    throw new Error(
      `unsupported broker URL scheme "${scheme}" in ${redactUrl(text)}: use stomp:// or stomp+ssl://`,
    );
  }
  if (u.username || u.password) {
    throw new Error(
      `broker URL ${redactUrl(text)} carries credentials: pass them as user and password instead`,
    );
  }
  if (!u.hostname) throw new Error(`broker URL ${redactUrl(text)} names no host`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: u.port ? Number(u.port) : defaultPorts[scheme], tls: scheme === 'stomp+ssl' };
}

const redactUrl = (url: string): string => url.replace(/\/\/[^/@]*@/g, '//***@');

/** The endpoint as a URL again, for log lines. */
export const describeEndpoint = (e: Endpoint): string =>
  `${e.tls ? 'stomp+ssl' : 'stomp'}://${net.isIPv6(e.host) ? `[${e.host}]` : e.host}:${e.port}`;
