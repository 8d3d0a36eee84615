// The tests Stryker runs per mutant: only in-process ones (pure units, DuckDB in-process, a daemon on
// port 0 inside this process). Multi-process suites (cluster, Redis, the built CLI) are left out so a
// run fits in ~20 minutes on 2 cores; they still run in `npm test`. Suites that simulate a whole fleet
// before their tests (calibrate, replay, plan) are left out too: Stryker re-runs a file's setup for
// every mutant it covers, which made one run of the calibration and rollout files take 5–22 hours;
// those files' pure cores are held by the *-mutants tests instead.
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
      'test/analytics/report-mutants.test.ts',
      'test/analytics/gates-mutants.test.ts',
      'test/runtime/finalize-mutants.test.ts',
      'test/runtime/finalize-mutants-holds.test.ts',
      'test/runtime/reserve-mutants.test.ts',
      'test/runtime/core-mutants.test.ts',
      'test/calibration/verdict-search-mutants.test.ts',
      'test/rollout/guard-mutants.test.ts',
      'test/rollout/gates-plan-mutants.test.ts',
      'test/integrity/verify-log.test.ts',
      'test/integrity/chain-writer.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    // Reuse loaded modules between Stryker's mutant runs (mutants are switched at run time, not reloaded).
    isolate: false,
    disableConsoleIntercept: true,
  },
})
