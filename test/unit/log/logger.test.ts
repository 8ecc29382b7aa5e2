import { describe, expect, it } from 'vitest';
import { createLogger, invocationLogger } from '#log/logger.ts';

/** A logger whose lines the test reads, parsed. */
function captured(base: Record<string, unknown> = {}) {
  const lines: Record<string, unknown>[] = [];
  return { log: createLogger(base, (l) => lines.push(JSON.parse(l))), lines };
}

describe('Function: createLogger', () => {
  it("writes Powertools' JSON shape: upper-case level, message, timestamp, service, keys at the top level", () => {
    // Prepare
    const { log, lines } = captured({ service: 'runner', run_id: '100010' });

    // Act
    log.warn('waiting for DynamoDB…', { retry_in_ms: 20 });

    // Assess
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'WARN',
        message: 'waiting for DynamoDB…',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        service: 'runner',
        run_id: '100010',
        retry_in_ms: 20,
      }),
    ]);
  });

  it('writes an error with its name, message and stack', () => {
    // Prepare
    const { log, lines } = captured();

    // Act
    log.error('handler failed', { error: new TypeError('no such run') });

    // Assess
    expect(lines[0]?.error).toMatchObject({
      name: 'TypeError',
      message: 'no such run',
      stack: expect.stringContaining('TypeError: no such run'),
    });
  });

  it("gives a child its parent's keys and its own, and a service of its own when it names one", () => {
    // Prepare
    const { log, lines } = captured({ service: 'testbed', run_id: '100010' });

    // Act
    log.child({ service: 'pilot-watchdog', pilot_id: '100010-p01' }).info('pilot lost');

    // Assess
    expect(lines[0]).toMatchObject({ service: 'pilot-watchdog', run_id: '100010', pilot_id: '100010-p01' });
  });
});

describe('Function: invocationLogger', () => {
  it("puts the Lambda context's request id and function on the invocation's lines, with its keys", () => {
    // Prepare
    const { log, lines } = captured({ service: 'end-run' });

    // Act
    invocationLogger(log, { awsRequestId: 'req-1', functionName: 'EndRun' }, { run_id: '100010' }).info(
      'run ended',
    );

    // Assess
    expect(lines[0]).toMatchObject({
      function_request_id: 'req-1',
      function_name: 'EndRun',
      cold_start: false,
      run_id: '100010',
    });
  });

  it('is a child of the logger without a context (a handler called by its tests or the local runner)', () => {
    // Prepare
    const { log, lines } = captured();

    // Act
    invocationLogger(log, undefined, { handler: 'end_run' }).info('run ended');

    // Assess
    expect(lines[0]).toMatchObject({ handler: 'end_run' });
    expect(lines[0]).not.toHaveProperty('function_request_id');
  });
});
