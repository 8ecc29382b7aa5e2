import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { ReceivedMessage } from '#broker/port.ts';
import { type BrokerConfig, connectBroker } from '#broker/stomp-broker.ts';
import type { TestBroker } from '../../support/broker.ts';

/** Polls until `check` holds; fails with `what` (and `detail()`, if given) after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean,
  timeoutMs = 10_000,
  detail?: () => unknown,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${detail ? `: ${JSON.stringify(detail(), null, 1)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A connection to the test broker whose log lines are kept for assertions. */
export async function connect(broker: TestBroker, o: Partial<BrokerConfig> = {}) {
  const lines: string[] = [];
  const port = await connectBroker({
    url: broker.url,
    ...broker.credentials,
    reconnect: { initialMs: 50, maxMs: 500 },
    log: (l) => lines.push(l),
    ...o,
  });
  return Object.assign(port, { lines });
}

/** Collects what a subscription receives, acking nothing by itself. */
export function inbox() {
  const messages: ReceivedMessage[] = [];
  return { messages, take: (m: ReceivedMessage) => void messages.push(m) };
}

let unique = 0;
export const uniqueQueue = (what: string) => `/queue/test.${what}.${process.pid}.${++unique}`;

/**
 * A TCP relay to the broker that can be cut like a pulled cable: `cut()` destroys every relayed socket
 * and refuses new connections until `resume()`; `mute()` loses everything the broker sends.
 */
export async function startRelay(targetPort: number) {
  const sockets = new Set<net.Socket>();
  let open = true;
  let muted = false;
  const server = net.createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!muted) client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `stomp://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    resume() {
      open = true;
      muted = false;
    },
    /** Drops what the broker sends (receipts, messages) while passing on what the client sends. */
    mute() {
      muted = true;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** TLS in front of the broker's plain STOMP port, with a throw-away self-signed certificate for 127.0.0.1. */
export async function startTlsTerminator(targetPort: number) {
  const dir = mkdtempSync(join(tmpdir(), 'broker-tls-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1'],
      ...['-keyout', key, '-out', cert, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { stdio: 'ignore' },
  );
  const ca = readFileSync(cert, 'utf8');
  const server = tls.createServer({ key: readFileSync(key), cert: ca }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `stomp+ssl://127.0.0.1:${port}`,
    ca,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
