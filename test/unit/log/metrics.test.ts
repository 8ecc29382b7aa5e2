import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeMessage } from '#contract/messages.ts';
import { type Metrics, metricsFromEnv, noMetrics } from '#log/metrics.ts';
import { countSlices } from '../../../functions/slice-result/handler.ts';

afterEach(() => vi.restoreAllMocks());

const result = (state: 'done' | 'failed', delayMs: number) =>
  makeMessage('slice_result', '100010', {
    filename: 'swf.100010.000001.stf',
    slice_id: 1,
    state,
    requested_at: '2025-03-01T10:00:00.000000Z',
    processed_at: new Date(Date.parse('2025-03-01T10:00:00Z') + delayMs).toISOString(),
  } as never);

describe('Function: metricsFromEnv', () => {
  it('counts nothing and writes nothing outside Lambda', () => {
    // Prepare
    const stdout = vi.spyOn(process.stdout, 'write');

    // Act
    const metrics = metricsFromEnv({});
    metrics.count('SlicesDone', 3);
    metrics.flush();

    // Assess
    expect(metrics).toBe(noMetrics);
    expect(stdout).not.toHaveBeenCalled();
  });

  it("writes one EMF line per flush in Lambda, in the testbed's namespace, the service its one dimension", () => {
    // Prepare
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const metrics = metricsFromEnv({
      AWS_LAMBDA_FUNCTION_NAME: 'Stack-SliceResult',
      POWERTOOLS_SERVICE_NAME: 'slice-result',
    });

    // Act
    metrics.count('SlicesDone', 2);
    metrics.milliseconds('SliceDelay', 120);
    metrics.flush();
    metrics.flush();

    // Assess
    expect(lines).toHaveLength(1);
    const emf = JSON.parse(lines[0] as string);
    expect(emf._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'SwfTestbed',
        Dimensions: [['service']],
        Metrics: [
          { Name: 'SlicesDone', Unit: 'Count' },
          { Name: 'SliceDelay', Unit: 'Milliseconds' },
        ],
      },
    ]);
    expect(emf).toMatchObject({ service: 'slice-result', SlicesDone: 2, SliceDelay: 120 });
  });
});

describe('Function: countSlices', () => {
  it('counts slices done and failed, and the delay of each slice done', () => {
    // Prepare
    const counted: [string, number][] = [];
    const metrics: Metrics = {
      count: (name, n) => counted.push([name, n]),
      milliseconds: (name, ms) => counted.push([name, ms]),
      flush: () => {},
    };

    // Act
    countSlices([result('done', 250), result('failed', 40), result('done', 1000)], metrics);

    // Assess
    expect(counted).toEqual([
      ['SlicesDone', 2],
      ['SlicesFailed', 1],
      ['SliceDelay', 250],
      ['SliceDelay', 1000],
    ]);
  });
});
