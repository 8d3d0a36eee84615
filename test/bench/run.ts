// `npm run bench`: every benchmark prints its figures next to a baseline measured in the same run.
// `npm run bench -- daemon` runs one suite. Suites live next to this file and export `run()`.
const SUITES: Record<string, () => Promise<{run: (args: string[]) => Promise<void>}>> = {
  daemon: () => import('./daemon-bench.js'),
  analyzer: () => import('./analyzer-bench.js'),
  redis: () => import('./redis-bench.js'),
  shedding: () => import('./shedding-bench.js'),
  calibrate: () => import('./calibrate-bench.js'),
  faithfulness: () => import('./faithfulness-bench.js'),
  startup: () => import('./startup-bench.js'),
}

// Suite names are the bare words that name a suite; everything else (e.g. `--records 1000000`) is
// passed to the suites.
const args = process.argv.slice(2)
const wanted = args.filter((a, i) => !a.startsWith('-') && (a in SUITES || !args[i - 1]?.startsWith('--')))
const names = wanted.length > 0 ? wanted : Object.keys(SUITES)
for (const name of names) {
  const load = SUITES[name]
  if (!load) {
    console.error(`unknown bench suite '${name}'; suites: ${Object.keys(SUITES).join(', ')}`)
    process.exit(2)
  }
  console.log(`\n=== ${name} ===`)
  const suite = await load()
  await suite.run(args)
}
