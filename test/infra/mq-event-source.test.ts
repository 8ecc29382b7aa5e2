import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it, test } from 'vitest';
import { MqEventSource } from '../../lib/mq-event-source.ts';

const base = (stack: Stack) => ({
  brokerArn: 'arn:aws:mq:eu-west-1:111111111111:broker:b:b-1',
  queue: 'swf.handler.stf_gen',
  credentials: new Secret(stack, 'Credentials'),
});

describe('Class: MqEventSource', () => {
  describe('Method: bind', () => {
    it('maps the one queue of the broker to the function, authenticated with the secret', () => {
      // Prepare
      const stack = new Stack(new App(), 'Bare');
      const fn = new LambdaFunction(stack, 'Fn', {
        runtime: Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: Code.fromInline('export const handler = async () => {};'),
      });

      // Act
      new MqEventSource({ ...base(stack), batchSize: 100, maxBatchingWindow: Duration.seconds(1) }).bind(fn);

      // Assess
      Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: 'arn:aws:mq:eu-west-1:111111111111:broker:b:b-1',
        Queues: ['swf.handler.stf_gen'],
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 1,
        SourceAccessConfigurations: [
          { Type: 'BASIC_AUTH', URI: { Ref: Match.stringLikeRegexp('^Credentials') } },
        ],
      });
    });
  });

  test.each([0, 10_001, 2.5])('refuses a batch size of %d', (batchSize) => {
    // Prepare
    const stack = new Stack(new App(), 'Bare');

    // Act
    const make = () => new MqEventSource({ ...base(stack), batchSize });

    // Assess
    expect(make).toThrow(`MqEventSource batchSize must be an integer from 1 to 10000, not ${batchSize}.`);
  });

  test.each([301, 600])('refuses a batching window of %d s', (seconds) => {
    // Prepare
    const stack = new Stack(new App(), 'Bare');

    // Act
    const make = () => new MqEventSource({ ...base(stack), maxBatchingWindow: Duration.seconds(seconds) });

    // Assess
    expect(make).toThrow(`MqEventSource maxBatchingWindow must be from 0 to 300 seconds, not ${seconds}.`);
  });
});
