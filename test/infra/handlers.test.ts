import { beforeAll, describe, expect, it } from 'vitest';
import { amazonMqConfiguration } from '#routes/broker-config.ts';
import { handlerQueue, headerlessRoute, routes } from '#routes/route-table.ts';
import { type TableName, tables } from '#tables/definitions.ts';
import { batchingFor } from '../../lib/handlers.ts';
import {
  actionsOf,
  logicalIdOf,
  resourcesOf,
  type Synthesized,
  statementsOfRole,
  synthTestbed,
} from './support/stack.ts';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed();
});

const functionOf = (handler: string) => {
  const fn = s.stack.handlers.functions[handler];
  if (!fn) throw new Error(`no function for ${handler}`);
  return fn;
};
const propertiesOf = (handler: string) =>
  s.template.toJSON().Resources[logicalIdOf(functionOf(handler))].Properties as Record<string, unknown>;

/** The tables a role may touch, and how: 'write' (item writes and reads), 'put' (puts only) or 'read'. */
function tableGrants(handler: string): Partial<Record<TableName, string>> {
  const roleId = logicalIdOf(functionOf(handler).executionRole);
  const actions = new Map<TableName, Set<string>>();
  for (const statement of statementsOfRole(s.template, roleId)) {
    const dynamo = actionsOf(statement).filter((a) => a.startsWith('dynamodb:'));
    const resources = JSON.stringify(resourcesOf(statement));
    for (const name of Object.keys(tables) as TableName[]) {
      if (dynamo.length === 0 || !resources.includes(`"${logicalIdOf(s.stack.tables.byName[name])}"`))
        continue;
      actions.set(name, new Set([...(actions.get(name) ?? []), ...dynamo]));
    }
  }
  const grants: Partial<Record<TableName, string>> = {};
  for (const [name, set] of actions) {
    const has = (pattern: RegExp) => [...set].some((a) => pattern.test(a));
    grants[name] = has(/UpdateItem|DeleteItem/) ? 'write' : has(/GetItem|Query|Scan/) ? 'read' : 'put';
  }
  return grants;
}

/** The actions a role has beyond the tables and what every function needs (network, logs, the broker's secret). */
function otherActions(handler: string): string[] {
  const statements = statementsOfRole(s.template, logicalIdOf(functionOf(handler).executionRole));
  const common = /^(dynamodb|ec2|logs|secretsmanager|mq):/;
  return [...new Set(statements.flatMap(actionsOf).filter((a) => !common.test(a)))].sort();
}

const queueOf = (handler: string): string | undefined => {
  const fn = logicalIdOf(functionOf(handler));
  const mapping = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).find((m) =>
    JSON.stringify(m.Properties.FunctionName).includes(`"${fn}"`),
  );
  return mapping?.Properties.Queues[0];
};

// The message log mqHandler appends to for every queue-driven handler.
const log = { messages: 'put', lookups: 'put' } as const;

/**
 * What each function may touch, written out by hand from what its domain code does, so that a handler that
 * starts touching another table (or loses a grant) fails here: the queue its mapping reads, its tables
 * ('write': item writes and reads, 'put': puts only, 'read'), and its actions beyond the tables and what
 * every function needs.
 */
const expectedGrants: Record<
  string,
  { queue?: string; tables: Partial<Record<TableName, string>>; other?: string[] }
> = {
  'run-imminent': { queue: 'swf.handler.run_imminent', tables: { ...log, runs: 'write', counters: 'write' } },
  'start-run': { queue: 'swf.handler.start_run', tables: { ...log, runs: 'write' } },
  'pause-run': { queue: 'swf.handler.pause_run', tables: { ...log, runs: 'write' } },
  'resume-run': { queue: 'swf.handler.resume_run', tables: { ...log, runs: 'write' } },
  'end-run': { queue: 'swf.handler.end_run', tables: { ...log, runs: 'write' } },
  'run-stop': { queue: 'swf.handler.run_stop', tables: { ...log, runs: 'write' } },
  'stf-gen': { queue: 'swf.handler.stf_gen', tables: { ...log, runs: 'write', stfs: 'write' } },
  'stf-ready': { queue: 'swf.handler.stf_ready', tables: { ...log, runs: 'write', stfs: 'write' } },
  // A result without its slice's name reads the slice's request in the lookups.
  'slice-result': {
    queue: 'swf.handler.slice_result',
    tables: { messages: 'put', lookups: 'write', runs: 'write', stfs: 'write', slices: 'write' },
  },
  // It reads whether the run's task is closed, claims pilot slots, and starts and stops pilot tasks.
  'adjuster-worker': {
    queue: 'swf.handler.adjuster_worker',
    tables: { ...log, runs: 'read', pilots: 'write' },
    other: [
      'ecs:DescribeTasks',
      'ecs:ListTasks',
      'ecs:RunTask',
      'ecs:StopTask',
      'ecs:TagResource',
      'iam:PassRole',
    ],
  },
  'transformer-start': { queue: 'swf.handler.transformer_start', tables: { ...log, pilots: 'write' } },
  'transformer-heartbeat': {
    queue: 'swf.handler.transformer_heartbeat',
    tables: { ...log, pilots: 'write' },
  },
  'transformer-end': { queue: 'swf.handler.transformer_end', tables: { ...log, pilots: 'write' } },
  headerless: { queue: 'swf.handler.headerless', tables: { ...log } },
  // Invoked directly: it chains itself, writes STFs to the bucket, and its failures go to its dead-letter queue.
  'daq-simulator': {
    tables: { runs: 'write', counters: 'write' },
    other: ['lambda:InvokeFunction', 's3:PutObject', 'sqs:SendMessage'],
  },
};

describe('Construct: Handlers', () => {
  describe('Route table', () => {
    it('gives every handler of the route table a function and one mapping of its own queue', () => {
      // Prepare
      const mappings = s.template.findResources('AWS::Lambda::EventSourceMapping');

      // Act
      const queues = Object.values(mappings).map((m) => m.Properties.Queues);

      // Assess
      expect(Object.keys(mappings)).toHaveLength(routes.length);
      for (const route of routes) {
        expect(s.stack.handlers.functions[route.handler], route.handler).toBeDefined();
        s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          FunctionName: { 'Fn::GetAtt': [logicalIdOf(functionOf(route.handler)), 'Arn'] },
          Queues: [handlerQueue(route)],
        });
      }
      expect(queues.sort()).toEqual(routes.map((r) => [handlerQueue(r)]).sort());
    });

    it('reads each queue the broker configuration fills by its selector', () => {
      // Prepare
      const xml = amazonMqConfiguration();

      // Act
      const filters = [...xml.matchAll(/selector="([^"]+)" queue="([^"]+)"/g)].map((m) => [m[1], m[2]]);

      // Assess
      for (const route of routes) {
        expect(filters).toContainEqual([route.selector, handlerQueue(route)]);
        s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          Queues: [handlerQueue(route)],
        });
      }
    });

    it('gives messages without a msg_type header a function of their own, fed from every topic a handler reads', () => {
      // Prepare
      const topics = new Set(routes.filter((r) => r !== headerlessRoute).flatMap((r) => r.from));

      // Act
      const fn = functionOf('headerless');

      // Assess
      expect(new Set(headerlessRoute.from)).toEqual(topics);
      expect(headerlessRoute.selector).toMatch(
        /^msg_type IS NULL OR msg_type NOT IN \('run_imminent', .*'transformer_end'\)$/,
      );
      s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { 'Fn::GetAtt': [logicalIdOf(fn), 'Arn'] },
        Queues: ['swf.handler.headerless'],
        BatchSize: 10,
        MaximumBatchingWindowInSeconds: 0,
      });
    });

    it('authenticates every mapping with the broker secret, on the broker, without a body filter', () => {
      // Prepare
      const secretId = logicalIdOf(s.stack.broker.credentials);
      const brokerId = logicalIdOf(s.stack.broker.broker);

      // Act
      const mappings = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping'));

      // Assess
      for (const m of mappings) {
        expect(m.Properties.EventSourceArn).toEqual({ 'Fn::GetAtt': [brokerId, 'Arn'] });
        expect(m.Properties.SourceAccessConfigurations).toEqual([
          { Type: 'BASIC_AUTH', URI: { Ref: secretId } },
        ]);
        // The broker already routes by msg_type; a body filter would drop (not park) what the contract refuses.
        expect(m.Properties.FilterCriteria).toBeUndefined();
      }
    });

    it('batches per-STF and per-slice messages by up to 100 for a second and control messages at once', () => {
      // Prepare
      const byQueue = new Map(
        Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).map((m) => [
          m.Properties.Queues[0],
          m.Properties,
        ]),
      );

      // Act
      const sliceResult = byQueue.get('swf.handler.slice_result');
      const runImminent = byQueue.get('swf.handler.run_imminent');

      // Assess
      expect(sliceResult).toMatchObject({ BatchSize: 100, MaximumBatchingWindowInSeconds: 1 });
      expect(runImminent).toMatchObject({ BatchSize: 10, MaximumBatchingWindowInSeconds: 0 });
      for (const route of routes) {
        const b = batchingFor(route);
        expect(byQueue.get(handlerQueue(route))).toMatchObject({
          BatchSize: b.batchSize,
          MaximumBatchingWindowInSeconds: b.maxBatchingWindow.toSeconds(),
        });
      }
    });

    it('creates each mapping only after its role may read the broker, the secret and the network', () => {
      // Prepare
      const mappings = s.template.findResources('AWS::Lambda::EventSourceMapping');

      // Act
      const first = Object.values(mappings)[0];

      // Assess
      expect(first?.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/RoleDefaultPolicy/)]));
    });
  });

  describe('Functions', () => {
    it('runs every handler on Node 22, arm64, 256 MB and 60 s, in the VPC, with source maps', () => {
      // Prepare
      const handlers = routes.map((r) => r.handler);

      // Act
      const props = handlers.map(propertiesOf);

      // Assess
      for (const p of props) {
        expect(p).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          MemorySize: 256,
          Timeout: 60,
          Handler: 'index.handler',
          VpcConfig: { SubnetIds: expect.any(Array), SecurityGroupIds: expect.any(Array) },
        });
        expect((p.Environment as { Variables: Record<string, unknown> }).Variables.NODE_OPTIONS).toBe(
          '--enable-source-maps',
        );
      }
    });

    it('gives every function its own log group with a retention', () => {
      // Prepare
      const all = Object.entries(s.stack.handlers.functions);

      // Act
      const logGroups = all.map(
        ([h]) => (propertiesOf(h).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref,
      );

      // Assess
      expect(new Set(logGroups).size).toBe(all.length);
      for (const id of logGroups) {
        expect(s.template.toJSON().Resources[id].Properties.RetentionInDays).toBe(30);
      }
    });

    it('tells every function the broker, its secret and the physical table names', () => {
      // Prepare
      const expected = [
        'BROKER_URL',
        'BROKER_SECRET_ARN',
        ...Object.keys(tables).map((t) => `TABLE_${t.toUpperCase()}`),
      ];

      // Act
      const variables = Object.keys(s.stack.handlers.functions).map(
        (h) => (propertiesOf(h).Environment as { Variables: Record<string, unknown> }).Variables,
      );

      // Assess
      for (const v of variables) expect(Object.keys(v)).toEqual(expect.arrayContaining(expected));
    });

    it('names every function after its handler in its log lines and metrics, under one metrics namespace', () => {
      // Prepare
      const handlers = Object.keys(s.stack.handlers.functions);

      // Act
      const powertools = handlers.map((h) => {
        const v = (propertiesOf(h).Environment as { Variables: Record<string, unknown> }).Variables;
        return [v.POWERTOOLS_SERVICE_NAME, v.POWERTOOLS_METRICS_NAMESPACE];
      });

      // Assess
      expect(powertools).toEqual(handlers.map((h) => [h, 'SwfTestbed']));
    });

    it('has every queue-driven handler park what fails for a transient reason, for the scheduled replay', () => {
      // Prepare
      const handlers = routes.map((r) => r.handler);

      // Act
      const modes = handlers.map(
        (h) =>
          (propertiesOf(h).Environment as { Variables: Record<string, unknown> }).Variables
            .TRANSIENT_FAILURES,
      );

      // Assess
      expect(new Set(modes)).toEqual(new Set(['park']));
    });
  });

  describe('Grants', () => {
    it('has a written-out expectation for every function of the stack', () => {
      // Prepare
      const written = Object.keys(expectedGrants).sort();

      // Act
      const functions = Object.keys(s.stack.handlers.functions).sort();

      // Assess
      expect(functions).toEqual(written);
    });

    it.each(Object.entries(expectedGrants))(
      'gives %s exactly the queue, tables and actions written out for it',
      (handler, expected) => {
        // Prepare
        const { queue, tables: expectedTables, other = [] } = expected;

        // Act
        const grants = {
          queue: queueOf(handler),
          tables: tableGrants(handler),
          other: otherActions(handler),
        };

        // Assess
        expect(grants).toEqual({ queue, tables: expectedTables, other: [...other].sort() });
      },
    );

    it('lets the message-type handlers append to the message log but never read or change it', () => {
      // Prepare
      const handler = 'transformer-heartbeat';

      // Act
      const grants = tableGrants(handler);

      // Assess
      expect(grants.messages).toBe('put');
      expect(grants.runs).toBeUndefined();
    });

    it('grants what Lambda needs to poll Amazon MQ: describe the broker, read the secret, manage interfaces', () => {
      // Prepare
      const roleId = logicalIdOf(functionOf('slice-result').executionRole);
      const brokerArn = { 'Fn::GetAtt': [logicalIdOf(s.stack.broker.broker), 'Arn'] };
      const secretArn = { Ref: logicalIdOf(s.stack.broker.credentials) };

      // Act
      const statements = statementsOfRole(s.template, roleId);

      // Assess
      expect(statements).toContainEqual(
        expect.objectContaining({ Action: 'mq:DescribeBroker', Effect: 'Allow', Resource: brokerArn }),
      );
      expect(statements).toContainEqual(
        expect.objectContaining({
          Action: expect.arrayContaining(['secretsmanager:GetSecretValue']),
          Resource: secretArn,
        }),
      );
      const ec2 = statements.flatMap(actionsOf).filter((a) => a.startsWith('ec2:'));
      expect(ec2).toEqual(
        expect.arrayContaining([
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeSubnets',
          'ec2:DescribeVpcs',
        ]),
      );
    });

    it('lets the headerless handler reach only the broker, its own log group and the message log', () => {
      // Prepare
      const fn = functionOf('headerless');
      const statements = statementsOfRole(s.template, logicalIdOf(fn.executionRole));

      // Act
      const actions = new Set(statements.flatMap(actionsOf));
      const dynamoResources = JSON.stringify(
        statements.filter((st) => actionsOf(st).some((a) => a.startsWith('dynamodb:'))).flatMap(resourcesOf),
      );

      // Assess
      expect([...actions].sort()).toEqual(
        [
          'dynamodb:BatchWriteItem',
          'dynamodb:PutItem',
          'ec2:AssignPrivateIpAddresses',
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeSubnets',
          'ec2:DescribeVpcs',
          'ec2:UnassignPrivateIpAddresses',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'mq:DescribeBroker',
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
        ].sort(),
      );
      for (const name of Object.keys(tables) as TableName[]) {
        const named = dynamoResources.includes(`"${logicalIdOf(s.stack.tables.byName[name])}"`);
        expect(named, name).toBe(name === 'messages' || name === 'lookups');
      }
    });

    it('attaches no managed policy to any function role', () => {
      // Prepare
      const roles = Object.values(s.stack.handlers.functions).map((f) => logicalIdOf(f.executionRole));

      // Act
      const managed = roles.map((id) => s.template.toJSON().Resources[id].Properties.ManagedPolicyArns);

      // Assess
      expect(managed.every((m) => m === undefined)).toBe(true);
    });

    it('lets only the worker adjuster run and stop pilot tasks and pass their roles', () => {
      // Prepare
      const taskDefinition = { Ref: logicalIdOf(s.stack.pilots.taskDefinition) };
      const byHandler = Object.fromEntries(
        Object.entries(s.stack.handlers.functions).map(([h, f]) => [
          h,
          statementsOfRole(s.template, logicalIdOf(f.executionRole)),
        ]),
      );

      // Act
      const launching = Object.entries(byHandler)
        .filter(([, st]) => st.flatMap(actionsOf).some((a) => a.startsWith('ecs:') || a === 'iam:PassRole'))
        .map(([h]) => h);

      // Assess
      expect(launching).toEqual(['adjuster-worker']);
      expect(byHandler['adjuster-worker']).toContainEqual(
        expect.objectContaining({ Action: 'ecs:RunTask', Resource: taskDefinition }),
      );
      expect(byHandler['adjuster-worker']).toContainEqual(
        expect.objectContaining({
          Action: 'iam:PassRole',
          Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
      );
      expect((propertiesOf('adjuster-worker').Environment as { Variables: object }).Variables).toMatchObject({
        PILOT_CONTAINER: 'transformer',
        PILOT_TASK_DEFINITION: taskDefinition,
        PILOT_CLUSTER: { 'Fn::GetAtt': [logicalIdOf(s.stack.pilots.cluster), 'Arn'] },
      });
    });
  });

  describe('DAQ simulator', () => {
    it('runs for up to 15 minutes with 1 GB and writes STFs to the bucket', () => {
      // Prepare
      const bucket = logicalIdOf(s.stack.stf.bucket);

      // Act
      const p = propertiesOf('daq-simulator');
      const statements = statementsOfRole(
        s.template,
        logicalIdOf(s.stack.handlers.daqSimulator.executionRole),
      );

      // Assess
      expect(p).toMatchObject({ Runtime: 'nodejs22.x', Timeout: 900, MemorySize: 1024 });
      expect((p.Environment as { Variables: Record<string, unknown> }).Variables.STF_STORE).toEqual({
        'Fn::Join': ['', ['s3://', { Ref: bucket }]],
      });
      const s3 = statements.filter((st) => actionsOf(st).some((a) => a.startsWith('s3:')));
      expect(s3.flatMap(actionsOf)).toEqual(['s3:PutObject']);
    });

    it('sends failed asynchronous invocations to a dead-letter queue with an alarm on its depth', () => {
      // Prepare
      const queue = logicalIdOf(s.stack.handlers.daqDeadLetterQueue);

      // Act
      const p = propertiesOf('daq-simulator');

      // Assess
      expect(p.DeadLetterConfig).toEqual({ TargetArn: { 'Fn::GetAtt': [queue, 'Arn'] } });
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      s.template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    });

    it('may invoke itself, to chain a run longer than one invocation, and no other function', () => {
      // Prepare
      const daq = logicalIdOf(s.stack.handlers.daqSimulator);

      // Act
      const invokes = Object.values(s.template.findResources('AWS::IAM::Policy'))
        .flatMap((p) => p.Properties.PolicyDocument.Statement)
        .filter((st: Record<string, unknown>) => actionsOf(st).includes('lambda:InvokeFunction'));

      // Assess
      expect(invokes).toEqual([expect.objectContaining({ Resource: { 'Fn::GetAtt': [daq, 'Arn'] } })]);
    });

    it('has no event source mapping: a run is started by invoking it', () => {
      // Prepare
      const daq = logicalIdOf(s.stack.handlers.daqSimulator);

      // Act
      const mine = Object.values(s.template.findResources('AWS::Lambda::EventSourceMapping')).filter((m) =>
        JSON.stringify(m.Properties.FunctionName).includes(daq),
      );

      // Assess
      expect(mine).toEqual([]);
    });
  });
});
