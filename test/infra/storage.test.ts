import { beforeAll, describe, expect, it } from 'vitest';
import { type TableName, tables } from '#tables/definitions.ts';
import { logicalIdOf, type Synthesized, synthTestbed } from './support/stack.ts';

let s: Synthesized;
beforeAll(() => {
  s = synthTestbed();
});

describe('Construct: Tables', () => {
  it('builds one table per definition the local runtime uses, with the same keys', () => {
    // Prepare
    const names = Object.keys(tables) as TableName[];

    // Act
    const built = names.map(
      (n) => s.template.toJSON().Resources[logicalIdOf(s.stack.tables.byName[n])].Properties,
    );

    // Assess
    s.template.resourceCountIs('AWS::DynamoDB::Table', names.length);
    names.forEach((name, i) => {
      const d: { partitionKey: string; sortKey?: string } = tables[name];
      expect(built[i].KeySchema).toEqual([
        { AttributeName: d.partitionKey, KeyType: 'HASH' },
        ...(d.sortKey ? [{ AttributeName: d.sortKey, KeyType: 'RANGE' }] : []),
      ]);
    });
  });

  it('bills every table on demand and keeps point-in-time recovery on', () => {
    // Prepare
    const all = Object.values(s.template.findResources('AWS::DynamoDB::Table'));

    // Act
    const settings = all.map((t) => [
      t.Properties.BillingMode,
      t.Properties.PointInTimeRecoverySpecification,
    ]);

    // Assess
    for (const [billing, pitr] of settings) {
      expect(billing).toBe('PAY_PER_REQUEST');
      expect(pitr).toEqual({ PointInTimeRecoveryEnabled: true });
    }
  });
});

describe('Construct: StfBucket', () => {
  it('encrypts the STF bucket and blocks every kind of public access', () => {
    // Prepare
    const bucket = logicalIdOf(s.stack.stf.bucket);

    // Act
    const p = s.template.toJSON().Resources[bucket].Properties;

    // Assess
    expect(p.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(p.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it('refuses any request that does not use TLS', () => {
    // Prepare
    const bucket = logicalIdOf(s.stack.stf.bucket);

    // Act
    const policy = Object.values(s.template.findResources('AWS::S3::BucketPolicy')).find(
      (p) => p.Properties.Bucket.Ref === bucket,
    );

    // Assess
    expect(policy?.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it('lets the STF files expire, as test data', () => {
    // Prepare
    const bucket = logicalIdOf(s.stack.stf.bucket);

    // Act
    const rules = s.template.toJSON().Resources[bucket].Properties.LifecycleConfiguration.Rules;

    // Assess
    expect(rules).toContainEqual(expect.objectContaining({ ExpirationInDays: 14, Status: 'Enabled' }));
  });
});
