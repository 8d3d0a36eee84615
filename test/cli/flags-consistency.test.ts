// Issue 12 §2 "Commands", with the built CLI as a child process: one grammar per idea across commands
// (--yes on every changing command, --all/--cursor on every list, --since as a duration or a date,
// enum values in any case), malformed input as a usage error (exit 2, never INTERNAL), examples on
// every command. Nothing listens on port 1, so a command that got past its flags ends UNREACHABLE (7).
import fs from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {beforeAll, describe, expect, it} from 'vitest'

import {type CliResult, assertBuilt, cli} from '../admin/cli.js'
import {PROJECT_ROOT} from '../support/spec.js'

const ROOT = process.env.CYCLES_CLI_ROOT ?? PROJECT_ROOT
const NOWHERE = 'http://127.0.0.1:1'
const env = {CYCLES_ADMIN_URL: NOWHERE, CYCLES_BASE_URL: NOWHERE, CYCLES_ADMIN_API_KEY: 'adm_x', CYCLES_DB: '/nonexistent/shadow.duckdb'}
const run = (...args: string[]): Promise<CliResult> => cli([...args, '--json'], env)

/** Every command that changes something, with the arguments it needs to get past parsing. */
const CHANGING: string[][] = [
  ['api-key', 'create', '--tenant', 'acme', '--name', 'bot'],
  ['api-key', 'revoke', 'key_1'],
  ['api-key', 'rotate', 'key_1'],
  ['budget', 'create', '--scope', 'tenant:acme', '--unit', 'TOKENS', '--amount', '1'],
  ...['credit', 'debit', 'reset', 'reset-spent', 'repay-debt'].map((op) => ['budget', op, '--scope', 'tenant:acme', '--unit', 'TOKENS', '--amount', '1']),
  ['budget', 'freeze', '--scope', 'tenant:acme', '--unit', 'TOKENS'],
  ['budget', 'unfreeze', '--scope', 'tenant:acme', '--unit', 'TOKENS'],
  ['config', 'apply', '--config', 'fixtures/cycles.yaml'],
  ['killswitch', 'engage', '--reason', 'x'],
  ['killswitch', 'release'],
  ['reservation', 'release', 'r1', '--reason', 'x'],
  ['rollout', 'apply', 'plan.yaml'],
  ['rollout', 'rollback', '--reason', 'x'],
  ['tenant', 'create', 'acme', '--name', 'Acme'],
  ['tenant', 'suspend', 'acme'],
  ['tenant', 'reactivate', 'acme'],
  ['tenant', 'close', 'acme', '--confirm', 'acme'],
  ['tier', 'set', 'low', 'shadow', '--reason', 'x'],
]
const LISTS = [['tenant', 'list'], ['budget', 'list'], ['api-key', 'list'], ['audit', 'list'], ['reservation', 'list', '--tenant', 'acme']]
const flagRejected = (r: CliResult) => /Nonexistent flag|Unexpected argument/.test(`${r.stdout}${r.stderr}`)

describe('one grammar per idea across commands (built CLI)', () => {
  beforeAll(() => assertBuilt())

  it('--yes is accepted by every command that changes something', async () => {
    const results = await Promise.all(CHANGING.map((args) => run(...args, '--yes')))
    results.forEach((r, i) => {
      expect(flagRejected(r), `${CHANGING[i].join(' ')} --yes: ${r.stdout}`).toBe(false)
      expect(r.json?.error?.code, CHANGING[i].join(' ')).not.toBe('USAGE')
    })
  }, 300_000)

  it('--all and --cursor are accepted by every list command', async () => {
    for (const args of LISTS) {
      for (const extra of [['--all'], ['--cursor', 'abc']]) {
        const r = await run(...args, ...extra)
        expect(flagRejected(r), `${args.join(' ')} ${extra.join(' ')}: ${r.stdout}`).toBe(false)
        expect(r.json.error.code, `${args.join(' ')} ${extra.join(' ')}`).toBe('UNREACHABLE')
      }
    }
  }, 300_000)

  it('--since takes a duration or a date wherever it exists, and anything else is a usage error', async () => {
    const withSince = [['audit', 'list'], ['audit', 'tail', '--duration', '1'], ['rollout', 'status'], ['shadow', 'report'], ['shadow', 'loops'], ['calibrate']]
    for (const args of withSince) {
      const good = await Promise.all(['90m', '7d', '2026-01-31T10:00:00Z'].map((since) => run(...args, '--since', since)))
      // Past the flags: the backend (admin API or database) is what is missing.
      for (const r of good) expect(r.json.error.code, `${args.join(' ')}: ${r.stdout}`).toMatch(/^(UNREACHABLE|DB_NOT_FOUND)$/)
      const bad = await run(...args, '--since', 'yesterday')
      expect(bad.code, `${args.join(' ')} --since yesterday`).toBe(2)
      expect(bad.json.error).toMatchObject({code: 'USAGE', message: "--since expects a duration (90m, 24h, 7d) or a date (2026-01-31 or 2026-01-31T10:00:00Z), got 'yesterday'"})
    }
  }, 300_000)

  it('enum values match in any case', async () => {
    const cases = [
      ['tenant', 'list', '--status', 'suspended'],
      ['budget', 'list', '--status', 'Frozen', '--sort-dir', 'ASC', '--book', 'SHADOW'],
      ['api-key', 'list', '--status', 'active'],
      ['reservation', 'list', '--tenant', 'acme', '--status', 'active'],
      ['rollout', 'rollback', '--tier', 'LOW', '--reason', 'x'],
      ['tier', 'set', 'LOW', 'Shadow', '--reason', 'x'],
      ['shadow', 'report', '--format', 'JSON', '--by', 'AGENT', '--unit', 'tokens'],
    ]
    const results = await Promise.all(cases.map((args) => run(...args)))
    results.forEach((r, i) => expect(r.json.error.code, cases[i].join(' ')).toMatch(/^(UNREACHABLE|DB_NOT_FOUND)$/))
    const wrong = await run('tenant', 'list', '--status', 'sleeping')
    expect(wrong.code).toBe(2)
    expect(wrong.json.error.message).toBe("--status expects one of ACTIVE, SUSPENDED, CLOSED, got 'sleeping'")
  }, 300_000)

  it('a malformed URL, date or fraction is a usage error (exit 2), never INTERNAL', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['budget', 'show', '--scope', 'tenant:acme', '--unit', 'TOKENS', '--admin-url', 'notaurl'], /--admin-url expects a URL/],
      [['reservation', 'show', 'r1', '--url', 'localhost:7878'], /--url expects an http/],
      [['daemon', 'status', '--url', 'not a url'], /--url expects a URL/],
      [['shadow', 'report', '--until', 'soon'], /--until expects a date/],
      [['budget', 'list', '--utilization-min', '90'], /fraction between 0 and 1/],
      [['budget', 'credit', '--scope', 'tenant:acme', '--unit', 'TOKENS', '--amount', '1,000'], /without separators/],
    ]
    for (const [args, message] of cases) {
      const r = await run(...args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.json.error.code, args.join(' ')).toBe('USAGE')
      expect(r.json.error.message, args.join(' ')).toMatch(message)
    }
    const pct = await run('budget', 'list', '--utilization-min', '90')
    expect(pct.json.error.suggestions).toEqual(['for 90 % pass --utilization-min 0.9'])
  }, 300_000)

  it('every command has examples', async () => {
    const dir = path.join(ROOT, 'dist', 'commands')
    const files = fs.readdirSync(dir, {recursive: true, encoding: 'utf8'}).filter((f) => f.endsWith('.js'))
    expect(files.length).toBeGreaterThan(40)
    for (const file of files) {
      const command = (await import(pathToFileURL(path.join(dir, file)).href)).default as {examples?: unknown[]}
      expect(command.examples?.length ?? 0, file).toBeGreaterThan(0)
    }
  }, 300_000)
})
