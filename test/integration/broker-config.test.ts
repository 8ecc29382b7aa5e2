import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portAccepts } from '#local/processes.ts';
import { startTestBroker, type TestBroker } from '../support/broker.ts';

describe('Local broker', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('accepts the configuration generated from the route table without a warning', async () => {
    // Prepare
    const logFile = join(broker.stateDir, 'logs', 'activemq.log');
    // Act: the port opens a moment before the broker logs that it has started
    let log = '';
    for (let i = 0; i < 100 && !/Apache ActiveMQ .* started/.test(log); i++) {
      await new Promise((r) => setTimeout(r, 50));
      log = readFileSync(logFile, 'utf8');
    }
    // Assess
    expect(log).toMatch(/Connector stomp started/);
    expect(log).not.toMatch(/ERROR|WARN/);
  });

  it('listens on loopback only', async () => {
    // Prepare
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    // Act
    const onLoopback = await portAccepts(broker.stompPort, '127.0.0.1');
    const onExternal = external ? await portAccepts(broker.stompPort, external) : false;
    // Assess
    expect(onLoopback).toBe(true);
    expect(onExternal).toBe(false);
  });
});
