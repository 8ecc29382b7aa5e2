import { createLogger, invocationLogger, type LambdaContext } from '#log/logger.ts';
import { type ApiRequest, handleApi } from '#query/api.ts';
import { monitorContext } from '#query/context.ts';
import { Monitor } from '#query/monitor.ts';

/** The request parts this handler reads, of a function URL (payload 2.0) or an API Gateway REST (1.0) event. */
export interface HttpEvent {
  readonly rawPath?: string;
  readonly path?: string;
  readonly httpMethod?: string;
  readonly requestContext?: { readonly http?: { readonly method?: string } };
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
}

export interface HttpResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

// Built once per execution environment: the tables (TABLE_*) and the log groups (LOG_GROUPS) it reads.
const monitor = new Monitor(monitorContext(process.env));
const moduleLog = createLogger({ service: 'monitor-api' });

export function apiRequest(event: HttpEvent): ApiRequest {
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (v !== undefined) query[k] = v;
  return {
    method: event.requestContext?.http?.method ?? event.httpMethod ?? 'GET',
    path: event.rawPath ?? event.path ?? '/',
    query,
  };
}

/** The monitor's read-only JSON API in AWS, behind an IAM-authenticated function URL. */
export async function handler(event: HttpEvent, context?: LambdaContext): Promise<HttpResult> {
  const log = invocationLogger(moduleLog, context);
  const req = apiRequest(event);
  const res = await handleApi(monitor, req, (error) =>
    log.error('API request failed', { path: req.path, error }),
  );
  return { statusCode: res.status, headers: res.headers, body: JSON.stringify(res.body) };
}
