import { mkdirSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
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

/** Where STOMP listens unless told otherwise: only processes of this machine reach it. */
export const defaultBrokerHost = '127.0.0.1';

/** The address STOMP is to listen on, as `--broker-host` or TESTBED_BROKER_HOST give it: an IPv4 address. */
export function checkBrokerHost(host: string, source = 'TESTBED_BROKER_HOST'): string {
  if (!isIPv4(host))
    throw new Error(
      `${source}: not an IPv4 address: ${host} (e.g. 172.17.0.1, the Docker bridge, or 0.0.0.0 for every address)`,
    );
  return host;
}

/** 127.0.0.0/8: what only this machine reaches. */
export const isLoopback = (host: string): boolean => host.split('.')[0] === '127';

/** Where this machine's processes reach a broker listening on `host`: loopback when it listens on every address. */
export const brokerConnectHost = (host: string): string => (host === '0.0.0.0' ? defaultBrokerHost : host);

/**
 * What `testbed up` says when the broker listens beyond loopback: the address, that only its generated
 * credentials let anyone in, and the broker URL to deploy the LocalStack stack with so its functions find it.
 */
export function brokerExposureWarning(host: string, port: number): string | undefined {
  if (isLoopback(host)) return undefined;
  const where = host === '0.0.0.0' ? 'every address of this machine' : host;
  const url = `stomp://${host === '0.0.0.0' ? 'host.docker.internal' : host}:${port}`;
  return (
    `warning: the broker's STOMP listens on ${where} (port ${port}), not only on loopback: anyone who reaches ` +
    `it and holds the credentials in .testbed/credentials.json gets in. LocalStack's functions reach it as ` +
    `${url} (cdklocal deploy -c target=localstack -c brokerUrl=${url}).`
  );
}

export interface BrokerOptions {
  readonly stateDir: string;
  readonly stompPort: number;
  /** The IPv4 address STOMP listens on (checkBrokerHost). @default defaultBrokerHost (loopback) */
  readonly stompHost?: string;
  readonly credentials: Credentials;
  /** @default 512 */
  readonly heapMb?: number;
  /** How long STOMP may take to answer; a restart after SIGKILL recovers KahaDB first. @default 30000 */
  readonly readyTimeoutMs?: number;
}

/**
 * Starts ActiveMQ (on loopback unless `stompHost` says otherwise) with the configuration generated from the
 * route table; resolves once STOMP answers.
 */
export async function startBroker(o: BrokerOptions): Promise<number> {
  const host = checkBrokerHost(o.stompHost ?? defaultBrokerHost, 'broker host');
  // The configuration always requires them; a listener others reach must never start without.
  if (!isLoopback(host) && (o.credentials.user === '' || o.credentials.password === ''))
    throw new Error(`the broker does not listen on ${host} without a user and password`);
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
      stompHost: host,
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
  const connect = brokerConnectHost(host);
  await waitFor(`ActiveMQ (STOMP on ${host}:${o.stompPort})`, () => portAccepts(o.stompPort, connect), {
    alive: () => isAlive(pid),
    logFile: d.logFile,
    ...(o.readyTimeoutMs !== undefined && { timeoutMs: o.readyTimeoutMs }),
  });
  return pid;
}

export const stopBroker = (stateDir: string): Promise<boolean> => stopDaemon(brokerDaemon(stateDir));
export const brokerPid = (stateDir: string): number | undefined => readPid(brokerDaemon(stateDir));
