import { tmpdir } from 'node:os';
import { loadWorkflow, type WorkflowConfig } from '#config/workflow.ts';
import { type DaqDeps, type DaqResult, simulateRun } from '#domain/daq.ts';
import { realClock } from '#domain/daq-clock.ts';
import { invocationLogger } from '#log/logger.ts';
import { environment } from '#runtime/env.ts';
import { stfStoreFor } from '#stf/s3-store.ts';

/** How a run is started: a resolved workflow (what chained invocations pass on) or a name with overrides. */
export interface DaqSimulatorEvent {
  readonly workflow: WorkflowConfig | { readonly name: string; readonly overrides?: Record<string, unknown> };
  readonly user?: string;
  readonly continuation?: { readonly run_id: string };
}

/** The part of Lambda's context this handler reads. */
export interface InvocationContext {
  getRemainingTimeInMillis?(): number;
  readonly awsRequestId?: string;
}

const isResolved = (w: DaqSimulatorEvent['workflow']): w is WorkflowConfig => 'daqStateMachine' in w;

/** Invoked directly (CLI, another Lambda), not by a queue: simulates one DAQ run, chaining itself if long. */
export async function handler(event: DaqSimulatorEvent, context?: InvocationContext): Promise<DaqResult> {
  const environmentDeps = await environment();
  const { env } = environmentDeps;
  const log = invocationLogger(environmentDeps.log, context);
  const workflow = isResolved(event.workflow)
    ? event.workflow
    : loadWorkflow(event.workflow.name, { overrides: event.workflow.overrides ?? {}, env });
  const user = event.user ?? env.SWF_USER ?? env.USER ?? 'testbed';
  const next = (continuation: { run_id: string }): DaqSimulatorEvent => ({ workflow, user, continuation });

  const remainingMs = context?.getRemainingTimeInMillis?.bind(context);
  const budgetMs = remainingMs?.();
  const functionName = env.AWS_LAMBDA_FUNCTION_NAME;
  const deps: DaqDeps = {
    ...environmentDeps,
    log,
    // Upstream writes STFs under /tmp when no container is configured; the local stack sets STF_STORE.
    stfStore: stfStoreFor(env.STF_STORE ?? tmpdir()),
    clock: realClock,
    ...(remainingMs && { remainingMs }),
    chain: functionName
      ? async (continuation) => {
          const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
          await new LambdaClient({}).send(
            new InvokeCommand({
              FunctionName: functionName,
              InvocationType: 'Event',
              Payload: Buffer.from(JSON.stringify(next(continuation))),
            }),
          );
        }
      : async (continuation) => {
          // Locally, a fresh invocation with the same time budget, not awaited: as Lambda's 'Event' type.
          setImmediate(() => {
            handler(next(continuation), budgetMs === undefined ? undefined : freshContext(budgetMs)).catch(
              (error: Error) =>
                log.error('chained DAQ simulator invocation failed', { run_id: continuation.run_id, error }),
            );
          });
        },
  };
  return simulateRun(
    {
      workflow,
      user,
      ...(event.continuation && { continuation: event.continuation }),
      ...(!event.continuation &&
        context?.awsRequestId !== undefined && { invocationId: context.awsRequestId }),
    },
    deps,
  );
}

function freshContext(budgetMs: number): InvocationContext {
  const startedAt = Date.now();
  return { getRemainingTimeInMillis: () => budgetMs - (Date.now() - startedAt) };
}
