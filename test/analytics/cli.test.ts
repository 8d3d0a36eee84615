// The built binary end to end (run `npm run build` first; `npm test` does).
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import {beforeAll, describe, expect, it} from 'vitest'

import {tempDir} from '../support/daemon.js'
import {writePlanted} from './helpers.js'
import {parseXml} from './xml.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const BIN = path.join(ROOT, 'bin/run.js')

function cycles(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {cwd: ROOT, encoding: 'utf8', env: {...process.env, NO_COLOR: '1', ...env}, timeout: 60_000})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

let dir: string
let db: string

beforeAll(() => {
  dir = tempDir('cycles-cli-')
  db = path.join(dir, 'shadow.duckdb')
  writePlanted(dir, 'planted.jsonl')
})

describe('cycles shadow ingest / report (built binary)', () => {
  it('ingest --json prints files, ingested, duplicates, malformed; again adds nothing', () => {
    const first = cycles(['shadow', 'ingest', path.join(dir, 'planted.jsonl'), '--db', db, '--json'])
    expect(first.code, first.stderr).toBe(0)
    const a = JSON.parse(first.stdout)
    expect(a).toMatchObject({files: 1, duplicates: 0, malformed: 0})
    expect(a.ingested).toBeGreaterThan(1000)
    const again = JSON.parse(cycles(['shadow', 'ingest', dir, '--db', db, '--json']).stdout)
    expect(again).toMatchObject({files: 1, ingested: 0, duplicates: a.ingested, malformed: 0})
  })

  it('report --json has the documented keys', () => {
    const r = cycles(['shadow', 'report', '--json'], {CYCLES_DB: db})
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(Object.keys(report.totals)).toEqual(expect.arrayContaining(['requests', 'would_denials', 'denial_rate']))
    for (const s of report.scopes) {
      expect(Object.keys(s)).toEqual(expect.arrayContaining(['scope', 'unit', 'requests', 'would_denials', 'denial_rate', 'band', 'reserve_commit_ratio', 'overage_rate', 'mape']))
    }
    expect(Object.keys(report.loops[0])).toEqual(expect.arrayContaining(['run_id', 'scope', 'count', 'window_seconds', 'first_ts', 'last_ts']))
    expect(Object.keys(report.fanout[0])).toEqual(expect.arrayContaining(['run_id', 'children', 'depth']))
    expect(report.scopes[0]).toMatchObject({band: 'too_tight', requests: 200, would_denials: 16, denial_rate: 0.08})
  })

  it('shadow loops prints only the runaway signals; --fail exits 8 when there are any', () => {
    const json = cycles(['shadow', 'loops', '--db', db, '--json'])
    expect(json.code, json.stderr).toBe(0)
    const loops = JSON.parse(json.stdout)
    expect(Object.keys(loops).sort()).toEqual(['fanout', 'loops', 'thresholds', 'violations', 'window'])
    // Compared with what helpers.ts planted (not with `shadow report`, which shares the code under test).
    const loopTruth = loops.loops.map((l: any) => [l.run_id, l.signals, l.run_id === 'storm-200' ? 'about 60' : l.count])
    expect(loopTruth).toEqual([
      ['storm-200', ['window'], 'about 60'],
      ['loop-47', ['window', 'repeat'], 47],
      ['repeat-6', ['repeat'], 6],
    ])
    expect(loops.loops.find((l: any) => l.run_id === 'storm-200').count).toBeGreaterThanOrEqual(59)
    const fanTruth = loops.fanout.map((f: any) => [f.run_id, f.children, f.depth, f.descendants, f.amplification, f.flagged])
    expect(fanTruth).toEqual([
      ['fan-deep', 3, 3, 39, 27, true],
      ['fan-wide', 12, 1, 12, 12, true],
      ['fan-small', 2, 2, 4, 2, false],
    ])
    const text = cycles(['shadow', 'loops', '--db', db])
    expect(text.stdout).toMatch(/Loop signatures/)
    expect(text.stdout).not.toMatch(/Verdicts/)
    expect(cycles(['shadow', 'loops', '--db', db, '--fail']).code).toBe(8)
    expect(cycles(['shadow', 'loops', '--db', db, '--tenant', 'initech', '--fail']).code).toBe(0)
  })

  it('--fail-on exits 8 exactly when a gate is violated, 0 otherwise; errors keep their codes', () => {
    expect(cycles(['shadow', 'report', '--db', db, '--fail-on', 'too_tight']).code).toBe(8)
    expect(cycles(['shadow', 'report', '--db', db, '--fail-on', 'loops', '--format', 'json']).code).toBe(8)
    expect(cycles(['shadow', 'report', '--db', db, '--tenant', 'initech', '--fail-on', 'decorative']).code).toBe(8)
    const pass = cycles(['shadow', 'report', '--db', db, '--tenant', 'initech', '--fail-on', 'too_tight,warm,loops,fanout,overage'])
    expect(pass.code, pass.stderr).toBe(0)
    expect(cycles(['shadow', 'report', '--db', db]).code).toBe(0)
    const badGate = cycles(['shadow', 'report', '--db', db, '--fail-on', 'too_tight,nonsense'])
    expect(badGate.code).toBe(2)
    expect(badGate.stderr).toMatch(/unknown gate/)
    const noDb = cycles(['shadow', 'report', '--db', path.join(dir, 'nope.duckdb'), '--json'])
    expect(noDb.code).toBe(5)
    expect(JSON.parse(noDb.stdout).error.code).toBe('DB_NOT_FOUND')
  })

  it('--format markdown writes one table, worst scopes first, with collapsed details', () => {
    const out = path.join(dir, 'summary.md')
    const r = cycles(['shadow', 'report', '--db', db, '--format', 'markdown', '--output', out, '--fail-on', 'too_tight'])
    expect(r.code).toBe(8)
    expect(r.stdout).toBe('')
    const md = fs.readFileSync(out, 'utf8')
    const tableLines = md.split('\n').filter((l) => l.startsWith('|'))
    const header = tableLines[0].split(' | ').length
    // one table: header, separator, one row per scope (8); loop/fan-out tables sit inside <details>
    const mainTable = md.slice(0, md.indexOf('<details>')).split('\n').filter((l) => l.startsWith('|'))
    expect(mainTable.length).toBe(2 + 8)
    expect(mainTable[1]).toMatch(/^\|(---:?\|)+$/)
    for (const l of [mainTable[0], ...mainTable.slice(2)]) expect(l.split(' | ').length).toBe(header)
    expect(mainTable[1].split('|').length - 2).toBe(header)
    expect(mainTable[2]).toContain('too tight')
    expect(md.match(/<details>/g)?.length).toBe(md.match(/<\/details>/g)?.length)
    expect(md).toContain('**1 gate violation(s)** (too_tight)')
  })

  it('--format junit writes valid JUnit XML: one test case per scope, failed when it violates a gate', () => {
    const out = path.join(dir, 'shadow.xml')
    const r = cycles(['shadow', 'report', '--db', db, '--format', 'junit', '--output', out, '--fail-on', 'too_tight,warm,loops'])
    expect(r.code).toBe(8)
    const xml = parseXml(fs.readFileSync(out, 'utf8'))
    expect(xml.name).toBe('testsuites')
    const [scopes, runs] = xml.children
    expect(scopes.children.length).toBe(8)
    expect(Number(scopes.attrs.tests)).toBe(8)
    const failed = scopes.children.filter((c) => c.children.some((x) => x.name === 'failure'))
    expect(failed.map((c) => c.attrs.name).sort()).toEqual([
      'tenant:acme/workspace:prod/workflow:billing (TOKENS)',
      'tenant:acme/workspace:prod/workflow:support/agent:triage (USD_MICROCENTS)',
    ])
    expect(Number(scopes.attrs.failures)).toBe(2)
    const loopCase = runs.children.find((c) => c.attrs.name === 'loop signatures')!
    expect(loopCase.children[0].name).toBe('failure')
    expect(Number(xml.attrs.failures)).toBe(3)
  })

  it('a truncated .gz is named in --json problems and on stderr; the run goes on to the next file', () => {
    const logs = path.join(dir, 'damaged')
    fs.mkdirSync(logs, {recursive: true})
    const lines = fs.readFileSync(path.join(dir, 'planted.jsonl'), 'utf8').split('\n').filter(Boolean)
    const gz = zlib.gzipSync(`${lines.slice(0, 600).join('\n')}\n`)
    fs.writeFileSync(path.join(logs, 'a.jsonl.gz'), gz.subarray(0, Math.floor(gz.length * 0.6)))
    fs.writeFileSync(path.join(logs, 'b.jsonl'), `${lines.slice(600, 650).join('\n')}\n`)
    const damagedDb = path.join(dir, 'damaged.duckdb')
    const json = cycles(['shadow', 'ingest', logs, '--db', damagedDb, '--json'])
    expect(json.code, json.stderr).toBe(0)
    const result = JSON.parse(json.stdout)
    expect(result.problems).toHaveLength(1)
    expect(result.problems[0].file).toBe(path.join(logs, 'a.jsonl.gz'))
    expect(result.problems[0].problem).toMatch(/^truncated or corrupt gzip .*salvaged \d+ complete line/)
    expect(result.per_file.map((f: {ingested: number}) => f.ingested)).toEqual([expect.any(Number), 50])
    expect(result.per_file[0].ingested).toBeGreaterThan(0)
    expect(result.failed_files).toBe(0)
    const text = cycles(['shadow', 'ingest', logs, '--db', path.join(dir, 'damaged-text.duckdb')])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stderr).toContain(`${path.join(logs, 'a.jsonl.gz')}: truncated or corrupt gzip`)
  })

  it('a database locked by another process is a clear error with exit 9', async () => {
    const holder = spawn(
      process.execPath,
      // The instance and connection are kept on globalThis: if they were collected, DuckDB would close
      // the file and release its lock while the test still relies on it.
      ['-e', `import('@duckdb/node-api').then(async ({DuckDBInstance}) => { globalThis.i = await DuckDBInstance.create(${JSON.stringify(db)}); globalThis.c = await globalThis.i.connect(); console.log('held'); setTimeout(() => {}, 60000) })`],
      {cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit']},
    )
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d) => String(d).includes('held') && resolve())
        holder.on('exit', () => reject(new Error('holder exited')))
      })
      const r = cycles(['shadow', 'ingest', path.join(dir, 'planted.jsonl'), '--db', db])
      expect(r.code).toBe(9)
      expect(r.stderr).toMatch(/DB_LOCKED.*locked by another process/)
      expect(r.stderr).toMatch(/--db/)
    } finally {
      holder.kill()
    }
  })

  it('report and loops read the database while another process reads it too (read-only opens)', async () => {
    // A reader in another process holds DuckDB's shared lock; a read-write open would be refused (exit 9).
    const reader = spawn(
      process.execPath,
      ['-e', `import('@duckdb/node-api').then(async ({DuckDBInstance}) => { globalThis.i = await DuckDBInstance.create(${JSON.stringify(db)}, {access_mode: 'READ_ONLY'}); globalThis.c = await globalThis.i.connect(); console.log('reading'); setTimeout(() => {}, 60000) })`],
      {cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit']},
    )
    try {
      await new Promise<void>((resolve, reject) => {
        reader.stdout.on('data', (d) => String(d).includes('reading') && resolve())
        reader.on('exit', () => reject(new Error('reader exited')))
      })
      const report = cycles(['shadow', 'report', '--db', db, '--json'])
      expect(report.code, report.stderr).toBe(0)
      expect(JSON.parse(report.stdout).scopes[0]).toMatchObject({band: 'too_tight', requests: 200, would_denials: 16})
      const loops = cycles(['shadow', 'loops', '--db', db, '--json'])
      expect(loops.code, loops.stderr).toBe(0)
      expect(JSON.parse(loops.stdout).loops.length).toBeGreaterThan(0)
    } finally {
      reader.kill()
    }
  })
})
