import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectBroker } from '#broker/stomp-broker.ts';
import { eventually } from '../../support/local-stack.ts';

interface Frame {
  readonly command: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * A scripted STOMP server (ActiveMQ offers no easy way to refuse a SEND): it answers every receipt, except
 * for SENDs to `/queue/refused`, which get an ERROR frame, as ActiveMQ sends for a refused frame, and the
 * SUBSCRIBEs that `refuseSubscribe` names (by connection and by their count on it).
 */
async function startRefusingServer(
  refuseSubscribe: (connection: number, nth: number) => boolean = () => false,
) {
  const connections: Frame[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const frames: Frame[] = [];
    connections.push(frames);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      for (let end = buffered.indexOf('\0'); end >= 0; end = buffered.indexOf('\0')) {
        const [head = '', ...rest] = buffered.slice(0, end).replace(/^\n+/, '').split('\n\n');
        buffered = buffered.slice(end + 1);
        const [command = '', ...lines] = head.split('\n');
        const headers = Object.fromEntries(
          lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
        );
        const frame = { command, headers, body: rest.join('\n\n') };
        frames.push(frame);
        const receipt = headers.receipt === undefined ? '' : `receipt-id:${headers.receipt}\n`;
        if (command === 'CONNECT') socket.write('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0');
        else if (command === 'SEND' && headers.destination === '/queue/refused') {
          socket.write(`ERROR\n${receipt}message:not allowed to send to /queue/refused\n\n\0`);
        } else if (
          command === 'SUBSCRIBE' &&
          refuseSubscribe(connections.length - 1, frames.filter((f) => f.command === 'SUBSCRIBE').length)
        ) {
          socket.write(`ERROR\n${receipt}message:broker not ready\n\n\0`);
        } else if (receipt) socket.write(`RECEIPT\n${receipt}\n\0`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `stomp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections,
    /** Drops every client connection, as a broker that dies does. */
    dropAll: async () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('Broker port refusals', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  const start = async (refuseSubscribe?: (connection: number, nth: number) => boolean) => {
    const server = await startRefusingServer(refuseSubscribe);
    cleanup.push(server.close);
    const lines: string[] = [];
    const port = await connectBroker({
      url: server.url,
      user: 'u',
      password: 'secret-password',
      heartbeatMs: 0,
      reconnect: { initialMs: 10, maxMs: 50 },
      log: (l) => lines.push(l),
    });
    cleanup.push(() => port.close());
    return { server, port, lines };
  };

  it('rejects a publish the broker refuses, with the broker’s reason', async () => {
    // Prepare
    const { port, lines } = await start();
    // Act
    const refused = port.publish('/queue/refused', 'no');
    // Assess
    await expect(refused).rejects.toThrow(/refused a message to \/queue\/refused: not allowed/);
    await port.publish('/queue/fine', 'yes');
    expect(lines.some((l) => l.includes('lost'))).toBe(false);
  });

  it('finds the refused message of a transaction by sending its messages again one by one', async () => {
    // Prepare
    const { server, port, lines } = await start();
    // Act: published together, so they share a transaction and its one receipt
    const results = await Promise.allSettled([
      port.publish('/queue/fine', 'first'),
      port.publish('/queue/refused', 'second'),
      port.publish('/queue/fine', 'third'),
    ]);
    // Assess
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const [firstTry, secondTry] = server.connections;
    expect(firstTry?.map((f) => f.command)).toEqual(['CONNECT', 'BEGIN', 'SEND', 'SEND', 'SEND', 'COMMIT']);
    expect(
      secondTry?.filter((f) => f.command === 'SEND').map((f) => [f.body, f.headers.receipt !== undefined]),
    ).toEqual([
      ['first', true],
      ['second', true],
      ['third', true],
    ]);
    expect(lines.some((l) => l.includes('lost (not allowed'))).toBe(true);
  });

  it('asks again for a subscription the broker refuses after a reconnect, instead of giving it up', async () => {
    // Prepare: on the second connection, the first SUBSCRIBE is refused (a broker still starting)
    const { server, port, lines } = await start((connection, nth) => connection === 1 && nth === 1);
    const subscription = port.subscribe('/queue/kept', { ack: 'client-individual' }, () => {});
    await subscription.ready;

    // Act: the connection drops; the port reconnects and subscribes again
    await server.dropAll();
    await eventually(
      'the subscription asked for again',
      () => (server.connections[1] ?? []).filter((f) => f.command === 'SUBSCRIBE').length >= 2,
      5_000,
      20,
    );

    // Assess
    const again = (server.connections[1] ?? []).filter((f) => f.command === 'SUBSCRIBE');
    expect(again.map((f) => f.headers.destination)).toEqual(['/queue/kept', '/queue/kept']);
    expect(again[0]?.headers.id).toBe(again[1]?.headers.id);
    expect(
      lines.some((l) => l.includes('subscription to /queue/kept refused again (broker not ready)')),
    ).toBe(true);
  });
});
