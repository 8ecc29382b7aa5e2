import type { Duration } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { CfnEventSourceMapping, type Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';

export interface MqEventSourceProps {
  /** The Amazon MQ broker's ARN. */
  readonly brokerArn: string;
  /** The one queue the mapping reads, without `/queue/` (a handler queue of the route table). */
  readonly queue: string;
  /** `{"username", "password"}` of a broker user: the mapping's BASIC_AUTH. */
  readonly credentials: ISecret;
  /** Messages per invocation, 1 to 10,000. @default 100 */
  readonly batchSize?: number;
  /** How long the poller gathers a batch before it invokes, 0 to 300 s. @default Lambda's 500 ms */
  readonly maxBatchingWindow?: Duration;
}

/**
 * An Amazon MQ (ActiveMQ) queue as the event source of a function. CDK has no L2 event source for Amazon MQ
 * (its `EventSourceMapping` has no `queues`), so `bind` writes the `CfnEventSourceMapping` itself and grants
 * the function's role what Lambda's MQ poller does with it: describe the broker, read the credentials, and
 * manage network interfaces in the broker's subnets.
 */
export class MqEventSource {
  constructor(private readonly props: MqEventSourceProps) {
    const size = props.batchSize;
    if (size !== undefined && (!Number.isInteger(size) || size < 1 || size > 10_000)) {
      throw new Error(`MqEventSource batchSize must be an integer from 1 to 10000, not ${size}.`);
    }
    const window = props.maxBatchingWindow?.toSeconds();
    if (window !== undefined && (window < 0 || window > 300)) {
      throw new Error(`MqEventSource maxBatchingWindow must be from 0 to 300 seconds, not ${window}.`);
    }
  }

  /** Creates the mapping on `target` (under `target`, as `<id>`) and grants what the poller needs. */
  bind(target: LambdaFunction, id = 'MqEventSource'): CfnEventSourceMapping {
    const p = this.props;
    const role = target.role;
    if (!role) throw new Error(`MqEventSource needs a function with a role: ${target.node.path} has none.`);
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['mq:DescribeBroker'], resources: [p.brokerArn] }),
    );
    p.credentials.grantRead(role);
    // The poller's network interfaces; EC2 takes no resource ARN for the Describe calls.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeSubnets',
          'ec2:DescribeVpcs',
        ],
        resources: ['*'],
      }),
    );
    const mapping = new CfnEventSourceMapping(target, id, {
      functionName: target.functionArn,
      eventSourceArn: p.brokerArn,
      queues: [p.queue],
      sourceAccessConfigurations: [{ type: 'BASIC_AUTH', uri: p.credentials.secretArn }],
      batchSize: p.batchSize ?? 100,
      ...(p.maxBatchingWindow && { maximumBatchingWindowInSeconds: p.maxBatchingWindow.toSeconds() }),
    });
    // Lambda checks the role when the mapping is created: the grants must exist by then.
    mapping.node.addDependency(role);
    return mapping;
  }
}
