// Which suites `npm run bench` runs, with which arguments. With no suite named it is a quick run of
// a few minutes at most; the full set (10 M-record logs of several GiB, Redis, shedding, 1 M-record
// faithfulness) runs only when asked for by name or with `all`.
export const SUITE_NAMES = ['daemon', 'analyzer', 'redis', 'shedding', 'calibrate', 'faithfulness', 'startup', 'docs'] as const
export type SuiteName = (typeof SUITE_NAMES)[number]

/** The quick default: the daemon in one short round, the analyzer and calibrate on 200,000 records. */
export const QUICK_RUN: Array<{suite: SuiteName; args: string[]}> = [
  {suite: 'daemon', args: ['--quick']},
  {suite: 'analyzer', args: ['--records=200000', '--case=large']},
  {suite: 'calibrate', args: ['--records=200000']},
  {suite: 'startup', args: ['--runs', '7']},
]

export interface BenchPlan {
  quick: boolean
  runs: Array<{suite: string; args: string[]}>
}

/** Suite names are the bare words that name a suite (or `all`); everything else (e.g. `--records 1000000`) goes to the suites. */
export function planBench(args: string[]): BenchPlan {
  const isName = (a: string) => (SUITE_NAMES as readonly string[]).includes(a) || a === 'all'
  const wanted = args.filter((a, i) => !a.startsWith('-') && (isName(a) || !args[i - 1]?.startsWith('--')))
  const rest = args.filter((a) => !wanted.includes(a))
  if (wanted.length === 0) return {quick: true, runs: QUICK_RUN.map((r) => ({suite: r.suite, args: [...rest, ...r.args]}))}
  const names = wanted.includes('all') ? [...SUITE_NAMES] : wanted
  return {quick: false, runs: names.map((suite) => ({suite, args: rest}))}
}
