// The tests Stryker runs per mutant: only in-process ones (pure units, DuckDB in-process, a daemon on
// port 0 inside this process). Multi-process suites (cluster, Redis, the built CLI) are left out so a
// run fits in ~20 minutes on 2 cores; they still run in `npm test`.
import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: [
      'test/unit/**/*.test.ts',
      'test/runtime/smoke.test.ts',
      'test/runtime/conformance.test.ts',
      'test/admin/admin-plane.test.ts',
      'test/runtime/tiers-and-ledgers.test.ts',
      'test/runtime/idempotency-mismatch.test.ts',
      'test/runtime/shadow-book.test.ts',
      'test/runtime/records-and-audit.test.ts',
      'test/analytics/report.test.ts',
      'test/analytics/boundaries.test.ts',
      'test/analytics/gates.test.ts',
      'test/admin/permissions.test.ts',
      'test/runtime/permissions.test.ts',
      'test/store/store-contract.test.ts',
      'test/runtime/sdk-findings.test.ts',
      'test/runtime/real-book.test.ts',
      'test/runtime/ramp.test.ts',
      'test/rollout/guard.test.ts',
      'test/rollout/apply-gates.test.ts',
      'test/rollout/plan.test.ts',
      'test/calibration/calibrate.test.ts',
      'test/calibration/replay.test.ts',
      'test/calibration/verdict-search-mutants.test.ts',
      'test/rollout/guard-mutants.test.ts',
      'test/rollout/gates-plan-mutants.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    // Reuse loaded modules between Stryker's mutant runs (mutants are switched at run time, not reloaded).
    isolate: false,
    disableConsoleIntercept: true,
  },
})
