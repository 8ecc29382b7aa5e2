import { userInfo } from 'node:os';
import { CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeBrokerCommand, MqClient } from '@aws-sdk/client-mq';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import type { WorkflowConfig } from '#config/workflow.ts';
import { emptyLogSource } from '#query/logs.ts';
import { runSummary } from '#query/run-summary.ts';
import { type TableName, tables } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { outputKeys } from '../lib/outputs.ts';
import { runProgress } from './progress.ts';
import { expectedStfCount } from './run.ts';
import { type RunReport, settledSummary, summary } from './summary.ts';

/** The stack `npx cdk deploy` creates unless `-c stackName=…` says otherwise. */
export const DEFAULT_STACK = 'SwfTestbed';

export interface AwsClients {
  readonly cloudFormation: Pick<CloudFormationClient, 'send'>;
  readonly lambda: Pick<LambdaClient, 'send'>;
  readonly db: DynamoDBClient;
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly mq: Pick<MqClient, 'send'>;
}

export interface AwsRunOptions {
  readonly workflow: WorkflowConfig;
  /** @default DEFAULT_STACK */
  readonly stackName?: string;
  /** Seconds to wait for the last result once the DAQ simulator has ended the run. @default 300 */
  readonly drainTimeoutS?: number;
  /** Seconds without DAQ progress before the run is given up (a chained invocation lost). @default 1200 */
  readonly stallTimeoutS?: number;
  /** Seconds between two looks at the tables. @default 2 */
  readonly pollS?: number;
  readonly out?: (line: string) => void;
  /** @default clients for the region and credentials of the environment */
  readonly clients?: AwsClients;
}

/** The deployed stack, as far as a run needs it. */
export interface DeployedStack {
  readonly name: string;
  readonly daqFunction: string;
  readonly daqDeadLetterQueue?: string;
  readonly brokerId?: string;
  readonly tableNames: Record<TableName, string>;
}

/** How the network fails under the SDK (Node's codes), in words. */
const networkFailures: Record<string, string> = {
  ENOTFOUND: 'its name does not resolve',
  EAI_AGAIN: 'its name does not resolve',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'it did not answer in time',
  TimeoutError: 'it did not answer in time',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'the host is unreachable',
};

/**
 * Turns what the SDK throws for an unreachable AWS, missing credentials, region or stack into one sentence
 * on what to do.
 */
export function explainAwsError(error: unknown, stackName: string): Error {
  const e = error as { name?: string; message?: string; code?: string; hostname?: string };
  const message = e?.message ?? String(error);
  const failure = networkFailures[e?.code ?? ''] ?? networkFailures[e?.name ?? ''];
  if (failure !== undefined) {
    const host = e.hostname ?? /(?:ENOTFOUND|EAI_AGAIN|connect \w+) ([\w.-]+)/.exec(message)?.[1];
    return new Error(
      `could not reach AWS${host ? ` at ${host}` : ''} (${failure}): check the network connection and any ` +
        'proxy, AWS_REGION, and AWS_ENDPOINT_URL if set',
    );
  }
  if (e?.name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return new Error(
      'no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and ' +
        'AWS_SECRET_ACCESS_KEY)',
    );
  }
  if (/Region is missing/i.test(message)) {
    return new Error('no AWS region: set AWS_REGION, or a region in your AWS profile');
  }
  if (e?.name === 'ValidationError' && /does not exist/i.test(message)) {
    return new Error(
      `stack ${stackName} not found in this account and region: deploy it with \`npx cdk deploy\`, ` +
        'or name yours with --stack',
    );
  }
  if (e?.name === 'ExpiredTokenException' || /expired/i.test(message)) {
    return new Error(`AWS credentials expired: sign in again (${message})`);
  }
  return error instanceof Error ? error : new Error(message);
}

/** Reads the stack's outputs; a stack that is missing, still deploying or rolled back is an error. */
export async function readDeployedStack(
  stackName: string,
  cloudFormation: Pick<CloudFormationClient, 'send'>,
): Promise<DeployedStack> {
  let s: Stack | undefined;
  try {
    s = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (error) {
    throw explainAwsError(error, stackName);
  }
  if (!s) throw explainAwsError({ name: 'ValidationError', message: 'does not exist' }, stackName);
  if (!/_COMPLETE$/.test(s.StackStatus ?? '') || /ROLLBACK|DELETE/.test(s.StackStatus ?? '')) {
    throw new Error(
      `stack ${stackName} is ${s.StackStatus}: wait for \`npx cdk deploy\` to finish, or redeploy`,
    );
  }
  const outputs = Object.fromEntries((s.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const need = (key: string): string => {
    const v = outputs[key];
    if (!v) throw new Error(`stack ${stackName} has no output ${key}: is it the testbed stack? Redeploy it.`);
    return v;
  };
  return {
    name: stackName,
    daqFunction: need(outputKeys.daqFunction),
    ...(outputs[outputKeys.daqDeadLetterQueue] && {
      daqDeadLetterQueue: outputs[outputKeys.daqDeadLetterQueue],
    }),
    ...(outputs[outputKeys.brokerId] && { brokerId: outputs[outputKeys.brokerId] }),
    tableNames: Object.fromEntries(
      (Object.keys(tables) as TableName[]).map((t) => [t, need(outputKeys.table(t))]),
    ) as Record<TableName, string>,
  };
}

/** A run started while the broker reboots (after a route table change) would lose its first messages. */
export async function assertBrokerRunning(stack: DeployedStack, mq: Pick<MqClient, 'send'>): Promise<void> {
  if (!stack.brokerId) return;
  const { BrokerState } = await mq.send(new DescribeBrokerCommand({ BrokerId: stack.brokerId }));
  if (BrokerState !== 'RUNNING') {
    throw new Error(
      `broker ${stack.brokerId} of stack ${stack.name} is ${BrokerState}: wait until it is RUNNING`,
    );
  }
}

/**
 * Starts a run: invokes the DAQ simulator asynchronously (a run outlives one invocation; the function chains
 * itself) with the resolved workflow, and resolves with the invocation's request id.
 */
export async function invokeDaqSimulator(
  stack: DeployedStack,
  workflow: WorkflowConfig,
  user: string,
  lambda: Pick<LambdaClient, 'send'>,
): Promise<string> {
  const out = await lambda
    .send(
      new InvokeCommand({
        FunctionName: stack.daqFunction,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify({ workflow, user })),
      }),
    )
    .catch((error: unknown) => {
      throw explainAwsError(error, stack.name);
    });
  const requestId = out.$metadata.requestId;
  if (!requestId) throw new Error('Lambda accepted the invocation but returned no request id');
  return requestId;
}

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

/** The run an invocation started: the DAQ simulator claims `invocation:<request id>` in the counters table. */
export async function findRunId(
  stack: DeployedStack,
  requestId: string,
  db: DynamoDBClient,
  o: { timeoutS?: number; pollS?: number } = {},
): Promise<string> {
  const doc = documents(db);
  const deadline = Date.now() + (o.timeoutS ?? 120) * 1000;
  for (;;) {
    const { Item } = await doc.send(
      new GetCommand({
        TableName: stack.tableNames.counters,
        Key: { counter: `invocation:${requestId}` },
        ConsistentRead: true,
      }),
    );
    if (Item?.value !== undefined) return String(Item.value);
    if (Date.now() > deadline) {
      throw new Error(
        `the DAQ simulator has not started a run for invocation ${requestId}: see its log group ` +
          `/aws/lambda/${stack.daqFunction} and the dead-letter queue`,
      );
    }
    await sleep(o.pollS ?? 1);
  }
}

async function countOf(db: DynamoDBClient, table: string, runId: string): Promise<number> {
  let n = 0;
  const pages = paginateQuery(
    { client: documents(db) },
    {
      TableName: table,
      KeyConditionExpression: 'run_id = :r',
      ExpressionAttributeValues: { ':r': runId },
      Select: 'COUNT',
    },
  );
  for await (const page of pages) n += page.Count ?? 0;
  return n;
}

/** What went by for the run, as the handlers recorded it in the messages table: counts per type, senders. */
async function deadLetters(sqs: Pick<SQSClient, 'send'>, url: string | undefined): Promise<number> {
  if (!url) return 0;
  const out = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
}

/**
 * `testbed run <workflow> --target aws`: reads the stack's outputs, invokes the DAQ simulator Lambda with the
 * workflow, follows the run through DynamoDB (STFs registered, slices done, the DAQ checkpoint) until it
 * completes, and prints the same summary as a local run.
 */
export async function runOnAws(o: AwsRunOptions): Promise<{ report: RunReport; completed: boolean }> {
  // Whatever step loses the network (the stack's outputs, the invocation, a poll), the user reads one sentence.
  return followRunOnAws(o).catch((error: unknown) => {
    throw explainAwsError(error, o.stackName ?? DEFAULT_STACK);
  });
}

async function followRunOnAws(o: AwsRunOptions): Promise<{ report: RunReport; completed: boolean }> {
  const out = o.out ?? ((l: string) => console.log(l));
  const stackName = o.stackName ?? DEFAULT_STACK;
  // The CLI runs on Node 20 too; the SDK's warning about its future Node floor is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const clients = o.clients ?? {
    cloudFormation: new CloudFormationClient({}),
    lambda: new LambdaClient({}),
    db: new DynamoDBClient({}),
    sqs: new SQSClient({}),
    mq: new MqClient({}),
  };
  const stack = await readDeployedStack(stackName, clients.cloudFormation);
  await assertBrokerRunning(stack, clients.mq).catch((error) => {
    throw explainAwsError(error, stackName);
  });
  const cfg = o.workflow;
  const expectedStfs = expectedStfCount(cfg);
  const expectedSlices = expectedStfs * cfg.promptProcessing.slices_per_stf;
  const pollS = o.pollS ?? 2;
  const deadBefore = await deadLetters(clients.sqs, stack.daqDeadLetterQueue).catch(() => 0);

  const requestId = await invokeDaqSimulator(stack, cfg, userInfo().username, clients.lambda);
  out(`DAQ simulator ${stack.daqFunction} invoked (request ${requestId}); waiting for its run`);
  const runId = await findRunId(stack, requestId, clients.db);
  out(`run ${runId} started on stack ${stack.name}`);

  const progress = runProgress(expectedStfs, expectedSlices);
  const doc = documents(clients.db);
  let completed = false;
  try {
    let lastProgress = Date.now();
    let lastCheckpoint: unknown;
    let endedAt: number | undefined;
    let lastLine = 0;
    for (;;) {
      const [{ Item: run }, stfs, slices] = await Promise.all([
        doc.send(
          new GetCommand({ TableName: stack.tableNames.runs, Key: { run_id: runId }, ConsistentRead: true }),
        ),
        countOf(clients.db, stack.tableNames.stfs, runId),
        countOf(clients.db, stack.tableNames.slices, runId),
      ]);
      progress.update(stfs, slices);
      if (!progress.shown && Date.now() - lastLine >= 5000) {
        out(`  STFs ${stfs}/${expectedStfs}, slices ${slices}/${expectedSlices}`);
        lastLine = Date.now();
      }
      if (run?.completion === 'completed') {
        completed = true;
        break;
      }
      const daq = run?.daq as { status?: string; updated_at?: string } | undefined;
      if (daq?.updated_at !== lastCheckpoint) {
        lastCheckpoint = daq?.updated_at;
        lastProgress = Date.now();
      }
      if (daq?.status === 'ended') endedAt ??= Date.now();
      if (endedAt !== undefined && Date.now() - endedAt > (o.drainTimeoutS ?? 300) * 1000) break;
      if (endedAt === undefined && Date.now() - lastProgress > (o.stallTimeoutS ?? 1200) * 1000) {
        out(`the DAQ simulator made no progress for ${o.stallTimeoutS ?? 1200} s: giving up on run ${runId}`);
        break;
      }
      if ((await deadLetters(clients.sqs, stack.daqDeadLetterQueue).catch(() => deadBefore)) > deadBefore) {
        out(`a DAQ simulator invocation failed for good: see ${stack.daqDeadLetterQueue}`);
        break;
      }
      await sleep(pollS);
    }
  } finally {
    progress.stop();
  }
  const context = { db: clients.db, tableNames: stack.tableNames, logs: emptyLogSource };
  // Read again until the pilots have ended, so that the summary does not call them running.
  const report = await settledSummary(() => runSummary(context, runId));
  out(summary(report));
  return { report, completed };
}
