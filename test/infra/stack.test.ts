import { App, Stack } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TableName, tables } from '#tables/definitions.ts';
import { nagReport } from '../../lib/nag.ts';
import { outputKeys } from '../../lib/outputs.ts';
import { logicalIdOf, type Synthesized, synthTestbed } from './support/stack.ts';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed();
});

describe('Stack: TestbedStack', () => {
  describe('Outputs', () => {
    it('outputs everything `testbed run --target aws` reads', () => {
      // Prepare
      const read = [
        outputKeys.daqFunction,
        outputKeys.daqDeadLetterQueue,
        outputKeys.brokerId,
        outputKeys.monitorApiUrl,
        ...(Object.keys(tables) as TableName[]).map(outputKeys.table),
      ];

      // Act
      const outputs = Object.keys(s.template.toJSON().Outputs);

      // Assess
      expect(outputs).toEqual(expect.arrayContaining(read));
    });

    it('names the DAQ simulator, the broker, its secret, the bucket and the pilot cluster', () => {
      // Prepare
      const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;

      // Act
      const value = (key: string) => outputs[key]?.Value;

      // Assess
      expect(value(outputKeys.daqFunction)).toEqual({ Ref: logicalIdOf(s.stack.handlers.daqSimulator) });
      expect(value(outputKeys.brokerSecret)).toEqual({ Ref: logicalIdOf(s.stack.broker.credentials) });
      expect(value(outputKeys.stfBucket)).toEqual({ Ref: logicalIdOf(s.stack.stf.bucket) });
      expect(value(outputKeys.pilotCluster)).toEqual({ Ref: logicalIdOf(s.stack.pilots.cluster) });
      expect(JSON.stringify(value(outputKeys.brokerUrl))).toContain('StompEndpoints');
      for (const name of Object.keys(tables) as TableName[]) {
        expect(value(outputKeys.table(name))).toEqual({ Ref: logicalIdOf(s.stack.tables.byName[name]) });
      }
    });
  });

  describe('cdk-nag', () => {
    it('leaves no AwsSolutions or Serverless finding unacknowledged, error or warning', () => {
      // Prepare
      const stack = s.stack;

      // Act
      const findings = nagReport(stack).flatMap((r) =>
        r.violations.map(
          (v) =>
            `${v.ruleName} (${v.severity}) at ${v.violatingResources.map((x) => x.constructPath).join(', ')}`,
        ),
      );

      // Assess
      expect(findings).toEqual([]);
    });

    it('reports a finding nobody acknowledged (the packs do run)', () => {
      // Prepare
      const bare = new Stack(new App(), 'Bare');
      new Bucket(bare, 'Plain');

      // Act
      const rules = nagReport(bare).flatMap((r) => r.violations.map((v) => v.ruleName));

      // Assess
      expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
    });

    it('gives a reason with every acknowledged finding', () => {
      // Prepare
      const acknowledged: { id: string; reason: string }[] = [];

      // Act
      for (const c of s.stack.node.findAll()) {
        for (const entry of c.node.metadata) {
          if (!/acknowledg/i.test(entry.type) || typeof entry.data !== 'object') continue;
          for (const [id, reason] of Object.entries(entry.data as Record<string, string>))
            acknowledged.push({ id, reason });
        }
      }

      // Assess
      expect(acknowledged.length).toBeGreaterThan(0);
      for (const a of acknowledged) expect(a.reason.length, a.id).toBeGreaterThan(40);
    });
  });
});
