import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localBrokerConfiguration } from '#routes/broker-config.ts';
import { type DebianPackage, ensureDebianPackages } from './debian-packages.ts';
import { type Daemon, isAlive, portAccepts, readPid, startDaemon, stopDaemon, waitFor } from './processes.ts';
import type { Credentials } from './state.ts';

/** Debian's `activemq` package (ActiveMQ Classic 5.17). */
export const activemqHome = '/usr/share/activemq';
const activemqJar = join(activemqHome, 'bin', 'activemq.jar');

export const brokerDaemon = (stateDir: string): Daemon => ({
  name: 'broker',
  pidFile: join(stateDir, 'run', 'broker.pid'),
  logFile: join(stateDir, 'logs', 'activemq.log'),
});

/** Debian's `activemq` package, known by its jar. */
export const activemqPackage: DebianPackage = { pkg: 'activemq', path: activemqJar };

/** Installs Debian's package when we may (root on Debian/Ubuntu); otherwise says which package is missing. */
export const ensureActiveMq = (log: (line: string) => void = console.error): void =>
  ensureDebianPackages([activemqPackage], log);

export interface BrokerOptions {
  readonly stateDir: string;
  readonly stompPort: number;
  readonly credentials: Credentials;
  /** @default 512 */
  readonly heapMb?: number;
  /** How long STOMP may take to answer; a restart after SIGKILL recovers KahaDB first. @default 30000 */
  readonly readyTimeoutMs?: number;
}

/** Starts ActiveMQ on loopback with the configuration generated from the route table; resolves once STOMP answers. */
export async function startBroker(o: BrokerOptions): Promise<number> {
  ensureActiveMq();
  const d = brokerDaemon(o.stateDir);
  const base = join(o.stateDir, 'broker');
  mkdirSync(join(base, 'data'), { recursive: true });
  const xml = join(base, 'activemq.xml');
  // Holds the broker password: owner-only, like the credentials file.
  writeFileSync(
    xml,
    localBrokerConfiguration({
      dataDirectory: join(base, 'data'),
      stompPort: o.stompPort,
      user: o.credentials.user,
      password: o.credentials.password,
    }),
    { mode: 0o600 },
  );
  const log4j = join(base, 'log4j.properties');
  writeFileSync(
    log4j,
    'log4j.rootLogger=WARN, out\nlog4j.appender.out=org.apache.log4j.ConsoleAppender\n' +
      'log4j.appender.out.layout=org.apache.log4j.PatternLayout\n' +
      'log4j.appender.out.layout.ConversionPattern=%d %-5p [%c{1}] %m%n\n' +
      'log4j.logger.org.apache.activemq.broker.BrokerService=INFO\n' +
      'log4j.logger.org.apache.activemq.broker.TransportConnector=INFO\n',
  );
  const child = startDaemon(d, 'java', [
    `-Xmx${o.heapMb ?? 512}m`,
    '-XX:+UseSerialGC',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${log4j}`,
    `-Dactivemq.home=${activemqHome}`,
    `-Dactivemq.base=${base}`,
    `-Dactivemq.conf=${base}`,
    `-Dactivemq.data=${join(base, 'data')}`,
    '-jar',
    activemqJar,
    'start',
    `xbean:file:${xml}`,
  ]);
  const pid = child.pid as number;
  await waitFor(`ActiveMQ (STOMP on 127.0.0.1:${o.stompPort})`, () => portAccepts(o.stompPort), {
    alive: () => isAlive(pid),
    logFile: d.logFile,
    ...(o.readyTimeoutMs !== undefined && { timeoutMs: o.readyTimeoutMs }),
  });
  return pid;
}

export const stopBroker = (stateDir: string): Promise<boolean> => stopDaemon(brokerDaemon(stateDir));
export const brokerPid = (stateDir: string): number | undefined => readPid(brokerDaemon(stateDir));
