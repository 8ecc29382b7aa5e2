import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The soak takes minutes and measures memory: `npm run test:chaos` runs it alone (vitest.chaos.config.ts).
    exclude: [...configDefaults.exclude, 'test/chaos/soak.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests start real brokers (a JVM each): keep them few at a time on a 2-core machine.
    maxWorkers: 2,
    testTimeout: 30_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    hookTimeout: 60_000,
  },
});
