// The local stack's supervisor as a process of its own, started by `testbed up` (local/supervisor.ts).
// Where the stack is comes from the environment `testbed up` gives it (TESTBED_STATE_DIR, the ports).
import { resolveStack, stackParts } from './stack.ts';
import { supervise } from './supervisor.ts';

const stack = resolveStack();
await supervise(stack.stateDir, stackParts(stack));
