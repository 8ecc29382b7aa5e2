import net from 'node:net';
import type { Credentials } from '#runtime/credentials.ts';

/**
 * A publisher that sends as upstream's agent base does (swf-common-lib's `send_message`, through stomp.py):
 * SEND with the destination and the body's length, nothing else: no msg_type, run_id, namespace or
 * persistent header (so the broker keeps it non-persistent), no expiry, no receipt.
 */
export interface UpstreamAgent {
  send(destination: string, body: string): void;
  /** Disconnects once the broker has read every frame sent before (DISCONNECT with a receipt). */
  close(): Promise<void>;
}

export async function connectUpstreamAgent(url: string, credentials: Credentials): Promise<UpstreamAgent> {
  const { hostname, port } = new URL(url.replace(/^stomp:/, 'http:'));
  const socket = net.connect({ host: hostname, port: Number(port) });
  socket.setNoDelay(true);
  let received = '';
  const waiters: { command: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('utf8');
    for (let end = received.indexOf('\0'); end >= 0; end = received.indexOf('\0')) {
      const frame = received.slice(0, end).replace(/^\n+/, '');
      received = received.slice(end + 1);
      const command = frame.slice(0, frame.indexOf('\n'));
      const waiter = waiters.shift();
      if (command === 'ERROR') waiter?.reject(new Error(`broker refused the agent: ${frame}`));
      else if (waiter?.command === command) waiter.resolve();
    }
  });
  const next = (command: string) =>
    new Promise<void>((resolve, reject) => {
      waiters.push({ command, resolve, reject });
      socket.once('error', reject);
    });
  const frame = (command: string, headers: Record<string, string>, body = '') =>
    `${command}\n${Object.entries(headers)
      .map(([k, v]) => `${k}:${v}\n`)
      .join('')}\n${body}\0`;
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const connected = next('CONNECTED');
  socket.write(
    frame('CONNECT', {
      'accept-version': '1.1,1.2',
      host: '/',
      login: credentials.user,
      passcode: credentials.password,
      'heart-beat': '0,0',
    }),
  );
  await connected;
  return {
    send(destination, body) {
      // stomp.py adds content-length itself: ActiveMQ then makes a BytesMessage, as for upstream's agents.
      socket.write(frame('SEND', { destination, 'content-length': String(Buffer.byteLength(body)) }, body));
    },
    async close() {
      const done = next('RECEIPT');
      socket.write(frame('DISCONNECT', { receipt: 'bye' }));
      await done;
      socket.destroy();
    },
  };
}
