// `npm run bench`: every benchmark prints its figures next to a baseline measured in the same run.
// With no suite named it is a quick run (see plan.ts); `npm run bench -- all` runs every suite at full
// size, `npm run bench -- daemon` one. Suites live next to this file and export `run()`.
import {QUICK_RUN, SUITE_NAMES, planBench} from './plan.js'

const SUITES: Record<string, () => Promise<{run: (args: string[]) => Promise<void>}>> = {
  daemon: () => import('./daemon-bench.js'),
  analyzer: () => import('./analyzer-bench.js'),
  redis: () => import('./redis-bench.js'),
  shedding: () => import('./shedding-bench.js'),
  calibrate: () => import('./calibrate-bench.js'),
  faithfulness: () => import('./faithfulness-bench.js'),
  startup: () => import('./startup-bench.js'),
  docs: () => import('./docs-bench.js'),
}

const plan = planBench(process.argv.slice(2))
if (plan.quick) {
  console.log(`quick run: ${QUICK_RUN.map((r) => `${r.suite} ${r.args.join(' ')}`).join('; ')}`)
  console.log(`the full set (10 M-record logs of several GiB, Redis, shedding, faithfulness): npm run bench -- all; one suite: npm run bench -- <${SUITE_NAMES.join('|')}>`)
}
for (const {suite: name, args} of plan.runs) {
  const load = SUITES[name]
  if (!load) {
    console.error(`unknown bench suite '${name}'; suites: ${Object.keys(SUITES).join(', ')}, or all`)
    process.exit(2)
  }
  console.log(`\n=== ${name} ===`)
  const suite = await load()
  await suite.run(args)
}
