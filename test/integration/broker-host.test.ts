import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, stopBroker } from '#local/activemq.ts';
import { freePort, portAccepts } from '#local/processes.ts';
import { type Credentials, loadOrCreateCredentials } from '#local/state.ts';
import { testDir } from '../support/temp.ts';

/** The first frame the broker answers a STOMP CONNECT with: CONNECTED or ERROR, and its message header. */
function connectFrame(port: number, host: string, login?: Credentials): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    let reply = '';
    socket.once('connect', () => {
      const auth = login ? `login:${login.user}\npasscode:${login.password}\n` : '';
      socket.write(`CONNECT\naccept-version:1.2\nhost:${host}\n${auth}\n\0`);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\0')) {
        socket.destroy();
        resolve(reply.split('\n\n')[0] as string);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => resolve(reply));
  });
}

// 127.0.0.2 is loopback on Linux (all of 127.0.0.0/8), an address other than the default to bind to.
describe('A local broker told to listen on another address (127.0.0.2)', () => {
  const host = '127.0.0.2';
  const stateDir = testDir('testbed-broker-host-');
  let stompPort: number;
  let credentials: Credentials;
  beforeAll(async () => {
    stompPort = await freePort();
    credentials = loadOrCreateCredentials(stateDir);
    await startBroker({ stateDir, stompPort, stompHost: host, credentials, heapMb: 256 });
  }, 120_000);
  afterAll(async () => {
    await stopBroker(stateDir);
  });

  it('listens there, and not on 127.0.0.1', async () => {
    // Prepare
    const addresses = [host, '127.0.0.1'];

    // Act
    const [there, default_] = await Promise.all(addresses.map((a) => portAccepts(stompPort, a)));

    // Assess
    expect(there).toBe(true);
    expect(default_).toBe(false);
  });

  it('lets in its user and refuses a client without credentials', async () => {
    // Prepare
    const login = credentials;

    // Act
    const anonymous = await connectFrame(stompPort, host);
    const authenticated = await connectFrame(stompPort, host, login);

    // Assess
    expect(anonymous).toMatch(/^ERROR/);
    expect(authenticated).toMatch(/^CONNECTED/);
  });
});
