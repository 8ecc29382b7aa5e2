// The runner's second way to handle a batch (local/runner.ts's `load`): instead of importing the handler
// module, it invokes the handler's function deployed in LocalStack through the Lambda Invoke API, as Lambda's
// MQ poller would, since LocalStack has no MQ trigger. Chosen at the edge (local/runner-main.ts).
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Route } from '#routes/route-table.ts';
import { outputKeys } from '../lib/outputs.ts';
import type { MqHandler } from './runner.ts';
import type { LocalStackTarget } from './stack.ts';

type Send = Pick<LambdaClient, 'send'>;

/** What a function threw, as Lambda reports it: its `errorType` as the name, so transient ones stay so. */
export class FunctionError extends Error {
  constructor(
    readonly functionName: string,
    errorType: string,
    errorMessage: string,
  ) {
    super(errorMessage);
    this.name = errorType;
  }
}

/**
 * A route's handler as its deployed function: one synchronous Invoke per batch, with the Amazon MQ-shaped
 * event the in-process runner passes the module. A function that throws (`FunctionError` set) throws here
 * with its error type and message, and the runner retries and parks the batch as for a handler in process.
 */
export function invokedHandler(lambda: Send, functionName: string): MqHandler {
  return async (event) => {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(event)),
      }),
    );
    const text = out.Payload ? new TextDecoder().decode(out.Payload) : '';
    if (out.FunctionError) {
      const { errorType, errorMessage } = parse(text) as { errorType?: string; errorMessage?: string };
      throw new FunctionError(
        functionName,
        errorType ?? out.FunctionError,
        errorMessage ?? (text || `${functionName} failed (${out.FunctionError})`),
      );
    }
    return text === '' ? undefined : parse(text);
  };
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return { errorMessage: text };
  }
};

export interface InvokeLoaderOptions {
  readonly lambda: Send;
  /** By handler (`stf-gen`), the function's name: `functionNames` reads them from the stack's outputs. */
  readonly functions: Readonly<Record<string, string>>;
  /** The handlers without a function (the worker adjuster, which starts local pilots): in process. */
  readonly inProcess: (route: Route) => Promise<MqHandler>;
}

/** The runner's `load` in LocalStack mode: a route's deployed function if the stack has one, else in process. */
export const invokeLoader =
  (o: InvokeLoaderOptions) =>
  async (route: Route): Promise<MqHandler> => {
    const name = o.functions[route.handler];
    return name ? invokedHandler(o.lambda, name) : o.inProcess(route);
  };

/** Each route's function name among a stack's outputs (lib/localstack-stack.ts writes them). */
export function functionNames(
  outputs: Readonly<Record<string, string | undefined>>,
  table: readonly Route[],
): Record<string, string> {
  return Object.fromEntries(
    table.flatMap((r) => {
      const name = outputs[outputKeys.handlerFunction(r.handler)];
      return name ? [[r.handler, name]] : [];
    }),
  );
}

/** The runner's `load` against the functions of the LocalStack stack (LocalStack takes any credentials). */
export async function localStackLoader(
  target: LocalStackTarget,
  table: readonly Route[],
  inProcess: (route: Route) => Promise<MqHandler>,
): Promise<(route: Route) => Promise<MqHandler>> {
  const client = {
    endpoint: target.url,
    region: target.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const cloudFormation = new CloudFormationClient(client);
  const { Stacks } = await cloudFormation.send(new DescribeStacksCommand({ StackName: target.stackName }));
  cloudFormation.destroy();
  const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const functions = functionNames(outputs, table);
  if (Object.keys(functions).length === 0)
    throw new Error(
      `stack ${target.stackName} at ${target.url} has no handler functions: deploy it with cdklocal deploy -c target=localstack`,
    );
  // A batch may run for the function's whole timeout (60 s): the SDK must wait as long.
  const lambda = new LambdaClient({ ...client, requestHandler: { requestTimeout: 90_000 } });
  return invokeLoader({ lambda, functions, inProcess });
}
