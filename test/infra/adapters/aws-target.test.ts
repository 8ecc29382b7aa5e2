import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import type { InvokeCommand } from '@aws-sdk/client-lambda';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkflow } from '#config/workflow.ts';
import {
  type AwsClients,
  assertBrokerRunning,
  explainAwsError,
  readDeployedStack,
  runOnAws,
} from '#local/aws.ts';
import { type TableName, tables } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { outputKeys } from '../../../lib/outputs.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';

const PREFIX = 'aws-target-';
const outputs = (): { OutputKey: string; OutputValue: string }[] => [
  { OutputKey: outputKeys.daqFunction, OutputValue: 'SwfTestbed-DaqSimulator' },
  { OutputKey: outputKeys.brokerId, OutputValue: 'b-1234' },
  ...(Object.keys(tables) as TableName[]).map((t) => ({
    OutputKey: outputKeys.table(t),
    OutputValue: `${PREFIX}${t}`,
  })),
];

const cloudFormation = (answer: () => unknown) =>
  ({
    send: async (command: unknown) => {
      if (!(command instanceof DescribeStacksCommand)) throw new Error('unexpected command');
      return answer();
    },
  }) as AwsClients['cloudFormation'];

describe('Function: readDeployedStack', () => {
  it('reads the DAQ function and every table name from the stack outputs', async () => {
    // Prepare
    const cfn = cloudFormation(() => ({ Stacks: [{ StackStatus: 'UPDATE_COMPLETE', Outputs: outputs() }] }));

    // Act
    const stack = await readDeployedStack('SwfTestbed', cfn);

    // Assess
    expect(stack.daqFunction).toBe('SwfTestbed-DaqSimulator');
    expect(stack.tableNames.runs).toBe(`${PREFIX}runs`);
  });

  it('says how to deploy when the stack does not exist', async () => {
    // Prepare
    const cfn = cloudFormation(() => {
      throw Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' });
    });

    // Act
    const read = readDeployedStack('Nope', cfn);

    // Assess
    await expect(read).rejects.toThrow(
      'stack Nope not found in this account and region: deploy it with `npx cdk deploy`, or name yours with --stack',
    );
  });

  it('says how to sign in when there are no credentials', async () => {
    // Prepare
    const cfn = cloudFormation(() => {
      throw Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      });
    });

    // Act
    const read = readDeployedStack('SwfTestbed', cfn);

    // Assess
    await expect(read).rejects.toThrow(/^no AWS credentials: run `aws configure`/);
  });

  it('refuses a stack that is still deploying or rolled back', async () => {
    // Prepare
    const cfn = cloudFormation(() => ({
      Stacks: [{ StackStatus: 'ROLLBACK_COMPLETE', Outputs: outputs() }],
    }));

    // Act
    const read = readDeployedStack('SwfTestbed', cfn);

    // Assess
    await expect(read).rejects.toThrow('stack SwfTestbed is ROLLBACK_COMPLETE');
    expect(explainAwsError(new Error('Region is missing'), 'x').message).toBe(
      'no AWS region: set AWS_REGION, or a region in your AWS profile',
    );
  });

  it('refuses to start a run while the broker is not running', async () => {
    // Prepare
    const cfn = cloudFormation(() => ({ Stacks: [{ StackStatus: 'UPDATE_COMPLETE', Outputs: outputs() }] }));
    const stack = await readDeployedStack('SwfTestbed', cfn);
    const mq = { send: async () => ({ BrokerState: 'REBOOT_IN_PROGRESS' }) } as never;

    // Act
    const check = assertBrokerRunning(stack, mq);

    // Assess
    await expect(check).rejects.toThrow(
      'broker b-1234 of stack SwfTestbed is REBOOT_IN_PROGRESS: wait until it is RUNNING',
    );
  });
});

describe('Function: runOnAws', () => {
  let dynamo: TestDynamo;
  beforeAll(async () => {
    dynamo = await startTestDynamo(PREFIX);
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  it('invokes the DAQ simulator with the workflow, finds its run and follows it to the summary', async () => {
    // Prepare
    const doc = documents(dynamo.client);
    const invocations: { input: Record<string, unknown> }[] = [];
    const lambda = {
      send: async (command: InvokeCommand) => {
        invocations.push(command);
        // What the deployed DAQ simulator and handlers would write, at once.
        const put = (table: TableName, Item: Record<string, unknown>) =>
          doc.send(new PutCommand({ TableName: `${PREFIX}${table}`, Item }));
        await put('counters', { counter: 'invocation:req-1', value: 100099 });
        await put('stfs', { run_id: '100099', filename: 'swf.100099.000001.stf', slice_count: 1 });
        await put('slices', { run_id: '100099', slice_key: 'a', state: 'done' });
        await put('messages', {
          run_id: '100099',
          msg_key: 'k1',
          msg_type: 'stf_gen',
          sender: 'daq_simulator-me',
        });
        await put('runs', {
          run_id: '100099',
          completion: 'completed',
          daq: { status: 'ended' },
          task_id: 1,
        });
        return { $metadata: { requestId: 'req-1' }, StatusCode: 202 };
      },
    } as unknown as AwsClients['lambda'];
    const lines: string[] = [];
    const workflow = loadWorkflow('prompt_processing', { overrides: { 'simulation.stf_count': 1 }, env: {} });

    // Act
    const { report, completed } = await runOnAws({
      workflow,
      pollS: 0.05,
      out: (l) => lines.push(l),
      clients: {
        cloudFormation: cloudFormation(() => ({
          Stacks: [{ StackStatus: 'CREATE_COMPLETE', Outputs: outputs() }],
        })),
        lambda,
        db: dynamo.client,
        sqs: { send: async () => ({ Attributes: { ApproximateNumberOfMessages: '0' } }) } as never,
        mq: { send: async () => ({ BrokerState: 'RUNNING' }) } as never,
      },
    });

    // Assess
    expect(invocations[0]?.input).toMatchObject({
      FunctionName: 'SwfTestbed-DaqSimulator',
      InvocationType: 'Event',
    });
    const payload = JSON.parse(Buffer.from(invocations[0]?.input.Payload as Uint8Array).toString('utf8'));
    expect(payload.workflow.name).toBe(workflow.name);
    expect(completed).toBe(true);
    expect(report).toMatchObject({
      run_id: '100099',
      completed: true,
      stfs: { registered: 1 },
      slices: { done: 1 },
    });
    const text = lines.join('\n');
    expect(text).toContain('Run 100099 Summary: completed');
    expect(text).toContain('stf_gen: 1');
    expect(text).toContain('Agents: daq_simulator-me');
  });
});
