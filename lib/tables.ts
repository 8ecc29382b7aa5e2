import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { type TableDefinition, type TableName, tables } from '#tables/definitions.ts';

export interface TablesProps {
  /** The definitions to build, the same the local runtime creates in dynalite. @default every table of `tables` */
  readonly definitions?: Readonly<Record<TableName, TableDefinition>>;
  /**
   * What `cdk destroy` does with the tables. A sandbox testbed's records are test output.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Physical names `<prefix><name>`, as the local runtime names its tables (TABLE_PREFIX).
   * @default names CloudFormation chooses, passed to the functions as TABLE_<NAME>
   */
  readonly tableNamePrefix?: string;
}

/** The DynamoDB tables of `layers/tables/definitions.ts`: on-demand, point-in-time recovery on, keys as defined. */
export class Tables extends Construct {
  public readonly byName: Readonly<Record<TableName, Table>>;

  constructor(scope: Construct, id: string, props: TablesProps = {}) {
    super(scope, id);
    const definitions: Readonly<Record<TableName, TableDefinition>> = props.definitions ?? tables;
    this.byName = Object.fromEntries(
      (Object.keys(definitions) as TableName[]).map((name) => {
        const d = definitions[name];
        const table = new Table(this, name, {
          partitionKey: { name: d.partitionKey, type: AttributeType.STRING },
          ...(d.sortKey !== undefined && { sortKey: { name: d.sortKey, type: AttributeType.STRING } }),
          billingMode: BillingMode.PAY_PER_REQUEST,
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
          ...(props.tableNamePrefix !== undefined && { tableName: `${props.tableNamePrefix}${name}` }),
        });
        return [name, table];
      }),
    ) as Record<TableName, Table>;
  }

  /** `TABLE_<NAME>` for every table, as `layers/runtime/env.ts` reads the physical names. */
  environment(): Record<string, string> {
    return Object.fromEntries(
      Object.entries(this.byName).map(([name, table]) => [`TABLE_${name.toUpperCase()}`, table.tableName]),
    );
  }
}
