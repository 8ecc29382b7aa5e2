// CloudWatch metrics of a function, through Powertools for AWS Lambda's Metrics (embedded metric format).
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';

/** Figures a function counts during an invocation and flushes at its end. */
export interface Metrics {
  count(name: string, n: number): void;
  milliseconds(name: string, value: number): void;
  /** Writes what was counted since the last flush. */
  flush(): void;
}

/** The CloudWatch namespace of the testbed's metrics (the stack sets it as POWERTOOLS_METRICS_NAMESPACE). */
export const METRICS_NAMESPACE = 'SwfTestbed';

export const noMetrics: Metrics = { count: () => {}, milliseconds: () => {}, flush: () => {} };

/**
 * EMF lines on stdout in Lambda, which CloudWatch turns into metrics of the namespace, with the service (the
 * function) as their one dimension: a run id would be one metric per run, each billed. Elsewhere (the local
 * runner, tests) nothing: no blob among the log lines.
 */
export function metricsFromEnv(env: NodeJS.ProcessEnv = process.env): Metrics {
  const functionName = env.AWS_LAMBDA_FUNCTION_NAME;
  if (!functionName) return noMetrics;
  const emf = new PowertoolsMetrics({
    namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
    serviceName: env.POWERTOOLS_SERVICE_NAME ?? functionName,
  });
  let counted = false;
  return {
    count(name, n) {
      emf.addMetric(name, MetricUnit.Count, n);
      counted = true;
    },
    milliseconds(name, value) {
      emf.addMetric(name, MetricUnit.Milliseconds, value);
      counted = true;
    },
    flush() {
      // Powertools warns of an empty flush: an invocation that counted nothing has nothing to say.
      if (counted) emf.publishStoredMetrics();
      counted = false;
    },
  };
}
