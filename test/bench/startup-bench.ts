// Cold start of the built CLI against bare `node` in the same run (issue 12: target <= 2.5x for
// `cycles --help`). Each sample is a fresh process; the variants are interleaved so a busy host slows
// them alike, and the median of each is compared. `npm run bench -- startup [--runs 15]`.
import {execFileSync} from 'node:child_process'
import path from 'node:path'

import {PROJECT_ROOT} from '../support/spec.js'

const TARGET_RATIO = 2.5

function argOf(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

function timeMs(args: string[]): number {
  const start = process.hrtime.bigint()
  execFileSync(process.execPath, args, {cwd: PROJECT_ROOT, stdio: 'ignore', env: {...process.env, NO_COLOR: '1'}})
  return Number(process.hrtime.bigint() - start) / 1e6
}

export async function run(args: string[]): Promise<void> {
  const runs = argOf(args, '--runs', 15)
  const bin = path.join(PROJECT_ROOT, 'bin', 'run.js')
  const variants: Array<{label: string; args: string[]}> = [
    {label: 'node -e "" (baseline)', args: ['-e', '']},
    {label: 'cycles --help', args: [bin, '--help']},
    {label: 'cycles budget list --help', args: [bin, 'budget', 'list', '--help']},
    {label: 'cycles version', args: [bin, 'version']},
  ]
  const samples = variants.map(() => [] as number[])
  for (const v of variants) timeMs(v.args) // warm the file cache once
  for (let r = 0; r < runs; r++) for (const [i, v] of variants.entries()) samples[i].push(timeMs(v.args))
  const base = median(samples[0])
  console.log(`${runs} cold starts each, interleaved; median wall time (ms) and ratio to bare node`)
  console.log(`${'command'.padEnd(28)} ${'median'.padStart(8)} ${'min'.padStart(7)} ${'ratio'.padStart(6)}`)
  for (const [i, v] of variants.entries()) {
    const m = median(samples[i])
    console.log(`${v.label.padEnd(28)} ${m.toFixed(0).padStart(8)} ${Math.min(...samples[i]).toFixed(0).padStart(7)} ${(m / base).toFixed(2).padStart(6)}`)
  }
  const ratio = median(samples[1]) / base
  console.log(`cycles --help: ${ratio.toFixed(2)}x bare node (target <= ${TARGET_RATIO}x): ${ratio <= TARGET_RATIO ? 'MET' : 'MISSED'}`)
}
