import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MqHandler } from '#local/runner.ts';
import { projectRoot } from '#local/state.ts';

type Invocable = (event: unknown, context: { awsRequestId: string }) => Promise<unknown>;

/** A stand-in for LocalStack's Lambda Invoke API (and CloudFormation's DescribeStacks), and what it was asked. */
export interface LambdaEndpoint {
  readonly url: string;
  /** Each invocation's function name and event, in order. */
  readonly invocations: { readonly functionName: string; readonly event: unknown }[];
  stop(): Promise<void>;
}

/**
 * Answers `POST /2015-03-31/functions/<name>/invocations` as Lambda does for a synchronous invoke: the
 * function's result, or what it threw as `{errorType, errorMessage}` with `X-Amz-Function-Error: Unhandled`;
 * an `Event` invocation is accepted (202) at once and run after.
 * A function is a handler folder under `functions/` (its module imported and called here, in this process,
 * with this process's environment) or a handler given directly. On the same URL, as LocalStack's edge,
 * CloudFormation's DescribeStacks answers with `stacks`' outputs.
 */
export async function startLambdaEndpoint(
  functions: Readonly<Record<string, string | MqHandler>>,
  stacks: Readonly<Record<string, Readonly<Record<string, string>>>> = {},
): Promise<LambdaEndpoint> {
  const invocations: LambdaEndpoint['invocations'] = [];
  const load = async (f: string | MqHandler): Promise<MqHandler> =>
    typeof f === 'string'
      ? (await import(pathToFileURL(join(projectRoot, 'functions', f, 'handler.ts')).href)).handler
      : f;
  const server = createServer(async (req, res) => {
    if (req.method === 'POST' && req.url === '/') {
      const query = new URLSearchParams(await body(req));
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(describeStacks(query.get('StackName') ?? '', stacks[query.get('StackName') ?? '']));
      return;
    }
    const name = decodeURIComponent(
      req.url?.match(/^\/2015-03-31\/functions\/([^/]+)\/invocations/)?.[1] ?? '',
    );
    const fn = functions[name];
    if (req.method !== 'POST' || fn === undefined) {
      res.writeHead(404, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'ResourceNotFoundException',
      });
      res.end(JSON.stringify({ message: `Function not found: ${name}` }));
      return;
    }
    const event = JSON.parse(await body(req));
    invocations.push({ functionName: name, event });
    // As Lambda: each invocation has a request id, which the function sees as its context's awsRequestId.
    const requestId = randomUUID();
    const call = async () => ((await load(fn)) as Invocable)(event, { awsRequestId: requestId });
    if (req.headers['x-amz-invocation-type'] === 'Event') {
      // Accepted, then run: as Lambda's asynchronous invocation (the DAQ simulator's start, by the CLI).
      res.writeHead(202, { 'x-amzn-requestid': requestId });
      res.end();
      call().catch((error: Error) => console.error(`stand-in: ${name} failed: ${error.message}`));
      return;
    }
    try {
      const result = await call();
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId });
      res.end(result === undefined ? '' : JSON.stringify(result));
    } catch (error) {
      const e = error as Error;
      res.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' });
      res.end(JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: [] }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    invocations,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** CloudFormation's DescribeStacks answer (its Query protocol's XML) for one stack with these outputs. */
function describeStacks(name: string, outputs: Readonly<Record<string, string>> = {}): string {
  const members = Object.entries(outputs)
    .map(([k, v]) => `<member><OutputKey>${k}</OutputKey><OutputValue>${v}</OutputValue></member>`)
    .join('');
  return (
    '<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult>' +
    `<Stacks><member><StackName>${name}</StackName><StackStatus>CREATE_COMPLETE</StackStatus>` +
    `<CreationTime>2026-01-01T00:00:00Z</CreationTime><Outputs>${members}</Outputs></member></Stacks>` +
    '</DescribeStacksResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeStacksResponse>'
  );
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
