import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Daemon, Redis and DuckDB tests own real processes and ports; keep parallelism modest on 2 cores.
    maxWorkers: 2,
    disableConsoleIntercept: true,
  },
})
