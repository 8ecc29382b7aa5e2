import { defineConfig } from 'vitest/config';

/**
 * `npm run test:chaos`: the fault tests that take minutes (the 20,000-slice soak; the outages of each part
 * of the stack, test/chaos/outages.chaos.ts, named so that `npm test` does not take it), which `npm test`
 * skips. One at a time: each brings up a whole local stack, and its memory figures are read with nothing
 * beside it.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/soak.test.ts', 'test/chaos/outages.chaos.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    maxWorkers: 1,
    testTimeout: 900_000,
    hookTimeout: 900_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
