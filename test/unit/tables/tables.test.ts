import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conditionalWrite, isConditionFailed } from '#tables/conditions.ts';
import { physicalTableName } from '#tables/definitions.ts';
import { documents } from '#tables/documents.ts';
import { queryAll, scanAll } from '#tables/pages.ts';
import { updateOf } from '#tables/update.ts';
import { startTestDynamo, type TestDynamo } from '../../support/dynamo.ts';

let dynamo: TestDynamo;
let pilots: string;
let counters: string;

beforeAll(async () => {
  dynamo = await startTestDynamo('tables-');
  pilots = physicalTableName('pilots', dynamo.env);
  counters = physicalTableName('counters', dynamo.env);
});
afterAll(() => dynamo.stop());

const put = (table: string, item: Record<string, unknown>) =>
  documents(dynamo.client).send(new PutCommand({ TableName: table, Item: item }));

describe('isConditionFailed', () => {
  it('knows a write dynalite refused for its condition, as the SDK exception class', async () => {
    // Prepare
    await put(counters, { counter: 'refused', value: 1 });
    // Act
    const error = await documents(dynamo.client)
      .send(
        new PutCommand({
          TableName: counters,
          Item: { counter: 'refused', value: 2 },
          ConditionExpression: 'attribute_not_exists(#c)',
          ExpressionAttributeNames: { '#c': 'counter' },
        }),
      )
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ConditionalCheckFailedException);
    expect(isConditionFailed(error)).toBe(true);
  });

  it('does not take an error of another kind, even one named like it, for a refused condition', () => {
    // Prepare
    const lookalike = Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' });
    // Act
    const taken = isConditionFailed(lookalike);
    // Assess
    expect(taken).toBe(false);
  });
});

describe('conditionalWrite', () => {
  it('says whether the first and a duplicate claim were written, and throws other errors', async () => {
    // Prepare
    const claim = () =>
      documents(dynamo.client).send(
        new UpdateCommand({
          TableName: counters,
          Key: { counter: 'claim' },
          ...updateOf({ set: { owner: 'a' }, condition: 'attribute_not_exists(#owner)' }),
        }),
      );
    // Act
    const first = await conditionalWrite(claim());
    const second = await conditionalWrite(claim());
    const broken = conditionalWrite(
      documents(dynamo.client).send(new UpdateCommand({ TableName: 'no-such-table', Key: { counter: 'x' } })),
    );
    // Assess
    expect([first, second]).toEqual([true, false]);
    await expect(broken).rejects.toThrow();
  });
});

describe('updateOf', () => {
  it('sets, keeps the first value, removes and adds in one update', async () => {
    // Prepare
    await put(counters, { counter: 'update', kept: 'first', gone: 'x', total: 1 });
    // Act
    const out = await documents(dynamo.client).send(
      new UpdateCommand({
        TableName: counters,
        Key: { counter: 'update' },
        ...updateOf({
          set: { size: 3, skipped: undefined },
          keep: { kept: 'second', fresh: 'new' },
          remove: ['gone'],
          add: { total: 2, started: 1, seen: new Set([4, 5]), none: new Set() },
        }),
        ReturnValues: 'ALL_NEW',
      }),
    );
    // Assess
    expect(out.Attributes).toEqual({
      counter: 'update',
      size: 3,
      kept: 'first',
      fresh: 'new',
      total: 3,
      started: 1,
      seen: new Set([4, 5]),
    });
  });

  it('refuses an update that writes nothing', () => {
    // Prepare
    const spec = { set: { a: undefined } };
    // Act
    const build = () => updateOf(spec);
    // Assess
    expect(build).toThrow('an update must write at least one attribute');
  });
});

describe('queryAll and scanAll', () => {
  beforeAll(async () => {
    for (let i = 0; i < 25; i++)
      await put(pilots, { run_id: 'paged', pilot_id: `p${String(i).padStart(2, '0')}` });
  });

  it('reads every page of a query when no cap is given', async () => {
    // Prepare
    const input = {
      TableName: pilots,
      KeyConditionExpression: 'run_id = :r',
      ExpressionAttributeValues: { ':r': 'paged' },
    };
    // Act
    const all = await queryAll(documents(dynamo.client), input);
    // Assess
    expect(all.items).toHaveLength(25);
    expect(all.truncated).toBe(false);
  });

  it('stops at the cap and says the read was truncated', async () => {
    // Prepare
    const input = {
      TableName: pilots,
      KeyConditionExpression: 'run_id = :r',
      ExpressionAttributeValues: { ':r': 'paged' },
    };
    // Act
    const capped = await queryAll(documents(dynamo.client), input, 10);
    const above = await queryAll(documents(dynamo.client), input, 30);
    // Assess
    expect(capped.items.map((p) => p.pilot_id)).toEqual(Array.from({ length: 10 }, (_, i) => `p0${i}`));
    expect(capped.truncated).toBe(true);
    expect(above).toMatchObject({ truncated: false });
    expect(above.items).toHaveLength(25);
  });

  it('scans a table to the cap', async () => {
    // Prepare
    const input = {
      TableName: pilots,
      FilterExpression: 'run_id = :r',
      ExpressionAttributeValues: { ':r': 'paged' },
    };
    // Act
    const all = await scanAll(documents(dynamo.client), input);
    const capped = await scanAll(documents(dynamo.client), { TableName: pilots }, 7);
    // Assess
    expect(all.items).toHaveLength(25);
    expect(capped.items).toHaveLength(7);
    expect(capped.truncated).toBe(true);
  });
});
