import { rmSync } from 'node:fs';
import { startBroker, stopBroker } from '#local/activemq.ts';
import { freePort } from '#local/processes.ts';
import { type Credentials, loadOrCreateCredentials } from '#local/state.ts';
import { testDir } from './temp.ts';

/** A real ActiveMQ of our own on a free port in a temporary folder. */
export interface TestBroker {
  readonly url: string;
  readonly stompPort: number;
  readonly credentials: Credentials;
  readonly stateDir: string;
  readonly pid: number;
  /** Stops the JVM and starts it again on the same port and data (persistent messages survive). */
  restart(): Promise<void>;
  /** Stops the JVM only (the data stay, for a later `start`). */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestBroker(o: { maximumRedeliveries?: number } = {}): Promise<TestBroker> {
  const stateDir = testDir('testbed-broker-');
  const stompPort = await freePort();
  const credentials = loadOrCreateCredentials(stateDir);
  const options = { stateDir, stompPort, credentials, heapMb: 256, ...o };
  let pid = await startBroker(options);
  const broker: TestBroker = {
    url: `stomp://127.0.0.1:${stompPort}`,
    stompPort,
    credentials,
    stateDir,
    get pid() {
      return pid;
    },
    async kill() {
      await stopBroker(stateDir);
    },
    async start() {
      pid = await startBroker(options);
    },
    async restart() {
      await broker.kill();
      await broker.start();
    },
    async stop() {
      await stopBroker(stateDir);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return broker;
}
