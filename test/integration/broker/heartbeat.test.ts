import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectBroker } from '#broker/stomp-broker.ts';
import { until } from './support.ts';

/** A STOMP server that completes the handshake, promises heart-beats, and then says nothing at all. */
async function startSilentServer() {
  const connects: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      const end = buffered.indexOf('\0');
      if (end < 0 || !buffered.startsWith('CONNECT')) return;
      const frame = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      connects.push(frame);
      const [cx, cy] = (/heart-beat:(\d+),(\d+)/.exec(frame) ?? []).slice(1);
      socket.write(`CONNECTED\nversion:1.2\nheart-beat:${cy},${cx}\n\n\0`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connects,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('Broker port heart-beats', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('declares a silent broker dead and connects again', async () => {
    // Prepare
    const server = await startSilentServer();
    cleanup.push(server.close);
    const lines: string[] = [];
    // Act
    const broker = await connectBroker({
      url: `stomp://127.0.0.1:${server.port}`,
      user: 'u',
      password: 'secret-password',
      heartbeatMs: 200,
      reconnect: { initialMs: 10, maxMs: 50 },
      log: (l) => lines.push(l),
    });
    cleanup.push(() => broker.close());
    await until('a second CONNECT', () => server.connects.length >= 2, 5_000);
    // Assess
    expect(server.connects[0]).toMatch(/^CONNECT\n/);
    expect(server.connects[0]).toContain('accept-version:1.2');
    expect(server.connects[0]).toContain('host:/');
    // We promise a beat every 200 ms and ask for one every 100 ms (ActiveMQ's gaps reach twice that).
    expect(server.connects[0]).toContain('heart-beat:200,100');
    expect(lines.some((l) => /lost \(connection timed out\)/.test(l))).toBe(true);
  });

  it('connects to the next endpoint of a failover URL when the first refuses', async () => {
    // Prepare
    const server = await startSilentServer();
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const lines: string[] = [];
    // Act
    const broker = await connectBroker({
      url: `failover:(stomp://127.0.0.1:${deadPort},stomp://127.0.0.1:${server.port})`,
      user: 'u',
      password: 'secret-password',
      heartbeatMs: 0,
      log: (l) => lines.push(l),
    });
    cleanup.push(() => broker.close());
    // Closed first: the silent server would never confirm the DISCONNECT.
    cleanup.push(server.close);
    // Assess
    expect(server.connects).toHaveLength(1);
    expect(lines.join('\n')).toMatch(
      new RegExp(`cannot connect to stomp://127.0.0.1:${deadPort}.*ECONNREFUSED`),
    );
    expect(lines.join('\n')).toContain(`connected to stomp://127.0.0.1:${server.port}`);
  });
});
