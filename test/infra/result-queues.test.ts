import { App } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { amazonMqConfiguration } from '#routes/broker-config.ts';
import { routeTable } from '#routes/route-table.ts';
import { stackPropsFromContext } from '../../lib/testbed-stack.ts';
import { logicalIdOf, type Synthesized, synthTestbed } from './support/stack.ts';

const resultQueues = [
  'swf.handler.slice_result',
  'swf.handler.slice_result.1',
  'swf.handler.slice_result.2',
  'swf.handler.slice_result.3',
  'swf.handler.slice_result.4',
];

const mappingsOf = (s: Synthesized, handler: string) => {
  const fn = logicalIdOf(s.stack.handlers.functions[handler] as never);
  return Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).filter((m) =>
    JSON.stringify(m.Properties.FunctionName).includes(`"${fn}"`),
  );
};

const configurationOf = (s: Synthesized): string => {
  const configuration = Object.values(s.template.findResources('AWS::AmazonMQ::Configuration'))[0];
  return Buffer.from(configuration?.Properties.Data as string, 'base64').toString('utf8');
};

describe('Stack: slice_result spread over 5 queues (resultQueues 5)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthTestbed({ props: { resultQueues: 5 } });
  });

  it('gives the one slice-result function five mappings, each on its own queue, batched as a stream', () => {
    // Act
    const mappings = mappingsOf(s, 'slice-result');
    // Assess
    expect(mappings.map((m) => m.Properties.Queues).sort()).toEqual(resultQueues.map((q) => [q]));
    for (const m of mappings) {
      expect(m.Properties.BatchSize).toBe(100);
      expect(m.Properties.MaximumBatchingWindowInSeconds).toBe(1);
    }
    expect(Object.keys(s.stack.handlers.functions).filter((h) => h.startsWith('slice-result'))).toEqual([
      'slice-result',
    ]);
  });

  it('configures Amazon MQ to forward slice_result into each queue by the last digit of its message id', () => {
    // Act
    const xml = configurationOf(s);
    // Assess
    expect(xml).toBe(amazonMqConfiguration(routeTable(5)));
    expect(xml).toContain(
      `<filteredDestination selector="msg_type = 'slice_result' AND (JMSMessageID LIKE '%3' OR JMSMessageID LIKE '%8')" queue="swf.handler.slice_result.3"/>`,
    );
    for (const q of resultQueues) {
      expect(xml).toContain(`<queue physicalName="${q}"/>`);
      expect(xml).toContain(`<queue physicalName="DLQ.${q}"/>`);
    }
  });

  it('tells the pilot watchdog, which replays parked messages, the count, so it lists every queue’s dead letters', () => {
    // Act
    const fn = s.template.toJSON().Resources[logicalIdOf(s.stack.pilotWatchdog.function)];
    // Assess
    expect(fn.Properties.Environment.Variables.TESTBED_RESULT_QUEUES).toBe('5');
  });

  it('keeps one mapping for each other handler', () => {
    // Act
    const mappings = mappingsOf(s, 'stf-ready');
    // Assess
    expect(mappings.map((m) => m.Properties.Queues)).toEqual([['swf.handler.stf_ready']]);
  });
});

describe('Stack: resultQueues by default and from context', () => {
  it('synthesises one queue and mapping for slice_result, as before the setting, when it is not given', () => {
    // Act
    const s = synthTestbed();
    // Assess
    expect(mappingsOf(s, 'slice-result').map((m) => m.Properties.Queues)).toEqual([
      ['swf.handler.slice_result'],
    ]);
    expect(configurationOf(s)).toBe(amazonMqConfiguration());
  });

  it('takes resultQueues from context and refuses a count that does not divide the ten last digits', () => {
    // Prepare
    const context = (value: string) => new App({ context: { resultQueues: value } }).node;
    // Act
    const props = stackPropsFromContext(context('5'));
    // Assess
    expect(props.resultQueues).toBe(5);
    expect(() => stackPropsFromContext(context('3'))).toThrow(
      /resultQueues must be one of 1, 2, 5, 10, not 3/,
    );
  });
});
