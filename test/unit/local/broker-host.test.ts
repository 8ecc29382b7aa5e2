import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerExposureWarning, checkBrokerHost, startBroker } from '#local/activemq.ts';
import { resolveStack, stackEnvironment } from '#local/stack.ts';
import { localBrokerConfiguration } from '#routes/broker-config.ts';
import { testDir } from '../../support/temp.ts';

const xml = (stompHost?: string) =>
  localBrokerConfiguration({
    dataDirectory: '/tmp/data',
    stompPort: 61613,
    ...(stompHost && { stompHost }),
    user: 'testbed',
    password: 'secret',
  });
const connectorUri = (config: string) => config.match(/<transportConnector name="stomp" uri="([^"?]+)/)?.[1];

describe('The STOMP bind address of the local broker', () => {
  it('stays on loopback unless told otherwise', () => {
    // Prepare
    const config = xml();

    // Act
    const uri = connectorUri(config);

    // Assess
    expect(uri).toBe('stomp://127.0.0.1:61613');
  });

  it('listens on the address given, only behind authentication (no anonymous access, one user)', () => {
    // Prepare
    const config = xml('0.0.0.0');

    // Act
    const uri = connectorUri(config);
    const connectors = config.match(/<transportConnector /g) ?? [];

    // Assess
    expect(uri).toBe('stomp://0.0.0.0:61613');
    expect(connectors).toHaveLength(1);
    expect(config).toMatch(/<simpleAuthenticationPlugin anonymousAccessAllowed="false">/);
    expect(config).toMatch(/<authenticationUser username="testbed" password="secret" /);
  });

  it('refuses what is not an IPv4 address, naming the setting', () => {
    // Prepare
    const bad = ['localhost', '::', '172.17.0', '172.17.0.1" foo="'];

    // Act
    const errors = bad.map((h) => (() => checkBrokerHost(h, '--broker-host')) as () => string);

    // Assess
    for (const e of errors) expect(e).toThrow(/--broker-host: not an IPv4 address/);
    expect(checkBrokerHost('172.17.0.1')).toBe('172.17.0.1');
  });

  it('refuses to listen beyond loopback without a user and password', async () => {
    // Prepare
    const stateDir = testDir('testbed-broker-host-');

    // Act
    const start = startBroker({
      stateDir,
      stompPort: 61613,
      stompHost: '0.0.0.0',
      credentials: { user: 'testbed', password: '' },
    });

    // Assess
    await expect(start).rejects.toThrow(/does not listen on 0\.0\.0\.0 without a user and password/);
  });

  it('warns, naming the address and the broker URL for the LocalStack stack, when not on loopback', () => {
    // Prepare
    const hosts = ['127.0.0.1', '127.0.0.2', '172.17.0.1', '0.0.0.0'] as const;

    // Act
    const [loopback, otherLoopback, bridge, every] = hosts.map((h) => brokerExposureWarning(h, 61614));

    // Assess
    expect(loopback).toBeUndefined();
    expect(otherLoopback).toBeUndefined();
    expect(bridge).toMatch(/^warning: the broker's STOMP listens on 172\.17\.0\.1 \(port 61614\)/);
    expect(bridge).toContain('-c brokerUrl=stomp://172.17.0.1:61614');
    expect(every).toMatch(/listens on every address of this machine/);
    expect(every).toContain('-c brokerUrl=stomp://host.docker.internal:61614');
  });

  it('is taken from the flag, else TESTBED_BROKER_HOST, else what the running stack recorded', () => {
    // Prepare
    const stateDir = testDir('testbed-broker-host-');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'stack.json'), JSON.stringify({ brokerHost: '172.17.0.1' }));

    // Act
    const saved = resolveStack({ stateDir }, {});
    const fromEnv = resolveStack({ stateDir }, { TESTBED_BROKER_HOST: '0.0.0.0' });
    const fromFlag = resolveStack({ stateDir, brokerHost: '127.0.0.2' }, { TESTBED_BROKER_HOST: '0.0.0.0' });
    const fresh = resolveStack({ stateDir: testDir('testbed-broker-host-') }, {});

    // Assess
    expect([saved, fromEnv, fromFlag, fresh].map((s) => s.brokerHost)).toEqual([
      '172.17.0.1',
      '0.0.0.0',
      '127.0.0.2',
      '127.0.0.1',
    ]);
    expect(() => resolveStack({ stateDir }, { TESTBED_BROKER_HOST: 'docker0' })).toThrow(
      /TESTBED_BROKER_HOST: not an IPv4 address: docker0/,
    );
  });

  it("points this machine's processes at the address the broker listens on (loopback for 0.0.0.0)", () => {
    // Prepare
    const stateDir = testDir('testbed-broker-host-');

    // Act
    const url = (host: string) =>
      stackEnvironment(resolveStack({ stateDir, brokerHost: host, stompPort: 61614 }, {})).BROKER_URL;

    // Assess
    expect(url('127.0.0.1')).toBe('stomp://127.0.0.1:61614');
    expect(url('172.17.0.1')).toBe('stomp://172.17.0.1:61614');
    expect(url('0.0.0.0')).toBe('stomp://127.0.0.1:61614');
  });
});
