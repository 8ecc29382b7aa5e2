import type { UpdateCommandInput } from '@aws-sdk/lib-dynamodb';

/** What one UpdateItem writes; attribute names are used as given (no dots), undefined values are left out. */
export interface UpdateSpec {
  /** Written every time: the last writer wins. */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Written only when absent (`if_not_exists`): the first writer wins, a duplicate changes nothing. */
  readonly keep?: Readonly<Record<string, unknown>>;
  /** ADD: a number to a number (a missing one counts from 0), a Set of numbers to a number set (idempotent); empty sets are left out. */
  readonly add?: Readonly<Record<string, number | ReadonlySet<number> | undefined>>;
  /** Removed. */
  readonly remove?: readonly string[];
  /** A condition over `#attribute` names and the `:placeholders` given in `values`. */
  readonly condition?: string;
  readonly values?: Readonly<Record<string, unknown>>;
}

export type UpdateParts = Pick<
  UpdateCommandInput,
  'UpdateExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues' | 'ConditionExpression'
>;

/** The expression parts of an upsert: every attribute behind a `#name` (many are reserved words: end, size). */
export function updateOf(spec: UpdateSpec): UpdateParts {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ...spec.values };
  const sets: string[] = [];
  const adds: string[] = [];
  const name = (attribute: string) => {
    names[`#${attribute}`] = attribute;
    return `#${attribute}`;
  };
  const use = (attribute: string, value: unknown) => {
    values[`:v_${attribute}`] = value;
    return [name(attribute), `:v_${attribute}`] as const;
  };
  for (const [attribute, value] of Object.entries(spec.set ?? {})) {
    if (value === undefined) continue;
    const [n, v] = use(attribute, value);
    sets.push(`${n} = ${v}`);
  }
  for (const [attribute, value] of Object.entries(spec.keep ?? {})) {
    if (value === undefined) continue;
    const [n, v] = use(attribute, value);
    sets.push(`${n} = if_not_exists(${n}, ${v})`);
  }
  for (const [attribute, value] of Object.entries(spec.add ?? {})) {
    if (value === undefined || (typeof value !== 'number' && value.size === 0)) continue;
    const [n, v] = use(attribute, value);
    adds.push(`${n} ${v}`);
  }
  const removes = (spec.remove ?? []).map(name);
  for (const [, attribute] of spec.condition?.matchAll(/#(\w+)/g) ?? []) name(attribute as string);
  const clauses = [
    sets.length > 0 && `SET ${sets.join(', ')}`,
    removes.length > 0 && `REMOVE ${removes.join(', ')}`,
    adds.length > 0 && `ADD ${adds.join(', ')}`,
  ];
  const expression = clauses.filter(Boolean).join(' ');
  if (expression === '') throw new Error('an update must write at least one attribute');
  return {
    UpdateExpression: expression,
    ExpressionAttributeNames: names,
    ...(Object.keys(values).length > 0 && { ExpressionAttributeValues: values }),
    ...(spec.condition !== undefined && { ConditionExpression: spec.condition }),
  };
}
