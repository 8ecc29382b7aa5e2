import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PILOT_CONTAINER } from '../../lib/pilots.ts';
import { actionsOf, logicalIdOf, type Synthesized, statementsOfRole, synthTestbed } from './support/stack.ts';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed();
});

// biome-ignore lint/suspicious/noExplicitAny: a template resource is untyped JSON.
const taskDefinition = (): Record<string, any> =>
  s.template.toJSON().Resources[logicalIdOf(s.stack.pilots.taskDefinition)].Properties;

describe('Construct: Pilots', () => {
  it('builds the pilot image from functions/transformer/Dockerfile with the repository as context', () => {
    // Prepare
    const assembly = s.app.synth();

    // Act
    const manifest = JSON.parse(
      readFileSync(join(assembly.directory, `${s.stack.artifactId}.assets.json`), 'utf8'),
    ) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }>;
    };
    const images = Object.values(manifest.dockerImages).map((i) => i.source);

    // Assess
    expect(images).toHaveLength(1);
    expect(images[0]).toMatchObject({
      dockerFile: 'functions/transformer/Dockerfile',
      platform: 'linux/amd64',
    });
    const context = join(assembly.directory, images[0]?.directory as string);
    expect(readFileSync(join(context, 'functions/transformer/main.ts'), 'utf8')).toContain(
      'startTransformer',
    );
    expect(() => readFileSync(join(context, 'lib/app.ts'))).toThrow();
    // What the image's build stage bundles the transformer with.
    expect(readFileSync(join(context, 'functions/bundling.ts'), 'utf8')).toContain('bundleTransformer');
    expect(readFileSync(join(context, 'bin/cli-bundle.js'), 'utf8')).toContain('isFresh');
  });

  it('runs one transformer container on Fargate, x86_64, logging to its own group', () => {
    // Prepare
    const td = taskDefinition();

    // Act
    const containers = td.ContainerDefinitions as Record<string, unknown>[];

    // Assess
    expect(td).toMatchObject({
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '1024',
      Memory: '2048',
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
    });
    expect(containers).toHaveLength(1);
    expect(containers[0]).toMatchObject({
      Name: PILOT_CONTAINER,
      StopTimeout: 120,
      LogConfiguration: {
        LogDriver: 'awslogs',
        Options: { 'awslogs-group': { Ref: logicalIdOf(s.stack.pilots.logGroup) } },
      },
    });
  });

  it('tells the transformer the broker, its secret and the STF bucket', () => {
    // Prepare
    const container = (
      taskDefinition().ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[]
    )[0];

    // Act
    const env = Object.fromEntries((container?.Environment ?? []).map((e) => [e.Name, e.Value]));

    // Assess
    expect(Object.keys(env).sort()).toEqual(['AWS_REGION', 'BROKER_SECRET_ARN', 'BROKER_URL', 'STF_STORE']);
    expect(env.BROKER_SECRET_ARN).toEqual({ Ref: logicalIdOf(s.stack.broker.credentials) });
    expect(env.STF_STORE).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: logicalIdOf(s.stack.stf.bucket) }]] });
  });

  it('lets the task read the broker secret and the STF objects, and nothing else', () => {
    // Prepare
    const role = (taskDefinition().TaskRoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] as string;

    // Act
    const actions = statementsOfRole(s.template, role).flatMap(actionsOf).sort();

    // Assess
    expect(actions).toEqual([
      's3:GetObject',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
  });

  it('turns Container Insights on for the pilot cluster', () => {
    // Prepare
    const cluster = logicalIdOf(s.stack.pilots.cluster);

    // Act
    const settings = s.template.toJSON().Resources[cluster].Properties.ClusterSettings;

    // Assess
    expect(settings).toEqual([{ Name: 'containerInsights', Value: 'enabled' }]);
  });
});
