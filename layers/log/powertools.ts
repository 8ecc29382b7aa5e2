// The Logger port implemented by Powertools for AWS Lambda's Logger: every process of the testbed (the
// functions, the local runner, the pilots, the CLI's DAQ simulator) writes its JSON lines.

import type { LogItem } from '@aws-lambda-powertools/logger';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
import type { LogFields, Logger } from './port.ts';

/**
 * Cold start belongs to the execution environment's first invocation, not to a logger: Powertools asks each
 * logger once (a child made per batch would say `true` every time), so the answer is kept here.
 */
const onDemand = process.env.AWS_LAMBDA_INITIALIZATION_TYPE === 'on-demand';
let invocations = 0;

/** Powertools' Logger writing each line through `write` (stdout, a file, a test's array) instead of its console. */
class LineLogger extends PowertoolsLogger {
  // Not a #private field: Powertools prints from its constructor, before the field would exist.
  private write: ((line: string) => void) | undefined;

  constructor(options: ConstructorOptions, write: (line: string) => void) {
    super(options);
    this.write = write;
  }

  protected override createLogger(options?: ConstructorOptions): LineLogger {
    return new LineLogger(options ?? {}, this.write ?? writeLine);
  }

  protected override printLog(level: number, item: LogItem): void {
    // Powertools' warnings about its own options, printed before `write` is set, go to its console.
    if (!this.write) {
      super.printLog(level, item);
      return;
    }
    item.prepareForPrint();
    this.write(JSON.stringify(item.getAttributes(), this.getJsonReplacer()));
  }

  override getColdStart(): boolean {
    return onDemand && invocations <= 1;
  }
}

/** `service` names the logger (Powertools' `service` key); the other fields are on every line. */
function options(fields: LogFields): ConstructorOptions {
  const { service, ...keys } = fields;
  return { ...(typeof service === 'string' && { serviceName: service }), persistentKeys: keys };
}

/** One line on stdout, as Lambda and the local stack's log files take it. */
export const writeLine = (line: string): void => void process.stdout.write(`${line}\n`);

export function powertoolsLogger(base: LogFields, write: (line: string) => void = writeLine): Logger {
  return adapt(new LineLogger(options(base), write));
}

function adapt(p: LineLogger): Logger {
  return {
    info: (msg, fields) => p.info(msg, fields ?? {}),
    warn: (msg, fields) => p.warn(msg, fields ?? {}),
    error: (msg, fields) => p.error(msg, fields ?? {}),
    child: (fields) => adapt(p.createChild(options(fields)) as LineLogger),
    forInvocation(context, fields = {}) {
      invocations++;
      // As Powertools' injectLambdaContext: on the logger of the module, whose children made from now on
      // inherit it.
      p.addContext(context as Parameters<PowertoolsLogger['addContext']>[0]);
      return this.child(fields);
    },
  };
}
