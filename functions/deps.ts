// The Lambda entries' composition: where a handler's concrete broker and tables come from, chosen by the
// environment the stack (or the local runner) sets. Everything under layers/ is given them.
import type { DomainDeps } from '#domain/deps.ts';
import { environment } from '#runtime/env.ts';

/** The deps of a message handler, built once per process (a Lambda execution environment, the local runner). */
export async function handlerDeps(): Promise<DomainDeps> {
  const { broker, db, tableNames, log } = await environment();
  return { broker, db, tableNames, log };
}
