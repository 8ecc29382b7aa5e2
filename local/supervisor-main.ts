// The local stack's supervisor as a process of its own, started by `testbed up` (local/supervisor.ts).
// Where the stack is comes from the environment `testbed up` gives it (TESTBED_STATE_DIR, the ports).
import { resolveStack } from './stack.ts';
import { stackParts } from './stack-parts.ts';
import { supervise } from './supervisor.ts';

const stack = resolveStack();
await supervise(stack.stateDir, stackParts(stack));
