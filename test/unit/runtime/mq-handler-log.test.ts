import { describe, expect, it } from 'vitest';
import type { BrokerPort } from '#broker/port.ts';
import { encodeMessage, makeMessage } from '#contract/messages.ts';
import { createLogger } from '#log/logger.ts';
import { mqEvent, toMqMessage } from '#messaging/mq-event.ts';
import { mqHandler } from '#runtime/mq-handler.ts';

const broker = { publish: async () => {} } as unknown as BrokerPort;

/** An end_run event of the given runs, as the runner or Lambda's poller hands it over. */
function event(...runs: { runId: string; namespace?: string; executionId?: string }[]) {
  return mqEvent(
    runs.map(({ runId, namespace, executionId }, i) => {
      const { body, headers } = encodeMessage(
        makeMessage('end_run', runId, { ...(executionId && { execution_id: executionId }) } as never, {
          ...(namespace && { namespace }),
        }),
      );
      return toMqMessage({
        body,
        headers,
        destination: '/queue/swf.handler.end_run',
        messageId: `ID:${i}`,
        redelivered: false,
        ack: () => {},
        nack: () => {},
      });
    }),
  );
}

/** An end_run handler that logs one line per batch; returns the lines written. */
async function linesOf(
  e: ReturnType<typeof event>,
  context?: { awsRequestId: string; functionName: string },
) {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ service: 'end-run' }, (l) => lines.push(JSON.parse(l)));
  const handler = mqHandler(
    'end_run',
    async () => ({ broker, log }),
    async (_messages, deps) => deps.log.info('runs ended'),
    { transientFailures: 'throw' },
  );
  await handler(e, context);
  return lines;
}

describe('Function: mqHandler, its log lines', () => {
  it("names the batch's run, execution and namespace when the batch is of one run", async () => {
    // Act
    const lines = await linesOf(event({ runId: '100010', namespace: 'ns-a', executionId: 'exec-1' }));

    // Assess
    expect(lines).toEqual([
      expect.objectContaining({
        message: 'runs ended',
        handler: 'end_run',
        run_id: '100010',
        namespace: 'ns-a',
        execution_id: 'exec-1',
      }),
    ]);
  });

  it('names the runs of a batch of several as run_ids', async () => {
    // Act
    const lines = await linesOf(event({ runId: '100010' }, { runId: '100011' }, { runId: '100010' }));

    // Assess
    expect(lines[0]).toMatchObject({ run_ids: ['100010', '100011'] });
    expect(lines[0]).not.toHaveProperty('run_id');
  });

  it("carries the Lambda context's request id when invoked with one", async () => {
    // Act
    const lines = await linesOf(event({ runId: '100010' }), {
      awsRequestId: 'req-7',
      functionName: 'EndRun',
    });

    // Assess
    expect(lines[0]).toMatchObject({
      function_request_id: 'req-7',
      function_name: 'EndRun',
      run_id: '100010',
    });
  });
});
