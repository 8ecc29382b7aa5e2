import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { connectBroker } from '#broker/stomp-broker.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { createLogger } from '#log/logger.ts';
import { park } from '#messaging/park.ts';
import { startTestBroker, type TestBroker } from '../../support/broker.ts';
import { testbed } from '../../support/cli.ts';

// `testbed dlq list --json` answers as every list does: `{items, next?}`, newest first.

describe('Command: testbed dlq list', () => {
  let broker: TestBroker;
  let port: BrokerPort;
  beforeAll(async () => {
    broker = await startTestBroker();
    port = await connectBroker({ url: broker.url, ...broker.credentials, log: () => {} });
  });
  afterAll(async () => {
    await port?.close();
    await broker?.stop();
  });

  it('prints {items} with the newest parked message first, and no next token', async () => {
    // Prepare: three refused start_run messages, parked one after the other
    for (const n of [1, 2, 3]) {
      const m = encodeMessage(makeMessage('start_run', '100800', { state: 'run', n }));
      await park(
        port,
        createLogger({}, () => {}),
        {
          queue: 'swf.handler.start_run',
          body: m.body,
          headers: m.headers,
          reason: `test refusal ${n}`,
          handler: 'start_run',
        },
      );
    }
    // Act
    const listed = await testbed(
      ['dlq', 'list', '--run', '100800', '--json', '--stomp-port', String(broker.stompPort)],
      {
        TESTBED_STATE_DIR: broker.stateDir,
      },
    );
    // Assess
    expect(listed.stderr).toBe('');
    const page = JSON.parse(listed.stdout) as { items: { reason: string }[]; next?: string };
    expect(Object.keys(page)).toEqual(['items']);
    expect(page.items.map((l) => l.reason)).toEqual(['test refusal 3', 'test refusal 2', 'test refusal 1']);
  });
});
