// End to end with the built CLI: a real daemon writing a chained log under load is killed with
// SIGKILL; `cycles audit verify` finds the log intact (a torn last line is a crash, not tampering),
// the restarted daemon continues the chain with the same key, and an edited record fails verify and
// `shadow ingest --verify` with exit 13 and its location.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {EXIT} from '../../src/cli/errors.js'
import {call, tempDir} from '../support/daemon.js'
import {type SpawnedDaemon, runCli, spawnDaemon} from '../support/process.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets: [{scope: "tenant:acme", unit: TOKENS, allocated: 1000000000}]
decision_log: {checkpoint_interval_s: 1}
`
const auth = {'X-Cycles-API-Key': KEY}
const dryRun = (i: number) => ({idempotency_key: `k-${i}`, subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 5}, dry_run: true})

let daemon: SpawnedDaemon | undefined
afterAll(() => {
  daemon?.child.kill('SIGKILL')
})

const verify = (logDir: string, ...extra: string[]) => {
  const res = runCli(['audit', 'verify', '--log-dir', logDir, '--json', ...extra])
  return {status: res.status, report: JSON.parse(res.stdout), stderr: res.stderr}
}
const checkpointLines = (logDir: string) => {
  const file = fs.readdirSync(logDir).find((f) => f.endsWith('.ckpt'))
  return file ? fs.readFileSync(path.join(logDir, file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []
}
/** The checkpoint key `daemon start` prints on stderr (just after it says where it listens). */
async function printedKey(d: SpawnedDaemon): Promise<string | undefined> {
  for (let i = 0; i < 100; i++) {
    const m = /checkpoints signed with (ed25519:[A-Za-z0-9_-]{43})/.exec(d.stderr())
    if (m) return m[1]
    await new Promise((r) => setTimeout(r, 50))
  }
  return undefined
}
const segmentsOf = (logDir: string) => fs.readdirSync(logDir).filter((f) => f.endsWith('.jsonl')).sort()

describe('a chained decision log through kill -9, restart and tampering (built CLI)', () => {
  it('verifies, continues and catches an edit', async () => {
    const dir = tempDir('cycles-kill9-chain-')
    const configPath = path.join(dir, 'cycles.yaml')
    fs.writeFileSync(configPath, CONFIG)
    const logDir = path.join(dir, 'log')
    const args = ['--config', configPath, '--log-dir', logDir, '--state-dir', path.join(dir, 'state')]
    daemon = await spawnDaemon(args, {}, 60_000) // a loaded machine starts a CLI slowly
    const publicKey = await printedKey(daemon)
    expect(publicKey, daemon.stderr()).toBeDefined()

    // Load until records are covered by at least one interval checkpoint, then SIGKILL mid-burst.
    let acked = 0
    let stop = false
    let seq = 0
    const worker = async () => {
      while (!stop) {
        try {
          const res = await call(daemon!.url, 'POST', '/v1/reservations', dryRun(++seq), auth)
          if (res.status === 200) acked++
        } catch {
          // the kill resets the connection: not acknowledged
        }
      }
    }
    const workers = Array.from({length: 8}, () => worker())
    const started = Date.now()
    while ((acked < 200 || !checkpointLines(logDir).some((c) => c.reason === 'interval' && c.records > 0)) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50))
    daemon.child.kill('SIGKILL')
    await daemon.exited
    stop = true
    await Promise.all(workers)
    expect(checkpointLines(logDir).some((c) => c.reason === 'shutdown')).toBe(false)

    const killed = verify(logDir, '--public-key', publicKey!)
    expect(killed.status, killed.stderr).toBe(0)
    expect(killed.report).toMatchObject({intact: true, keys_checked: 'given', unchained_files: []})
    expect(killed.report.break).toBeUndefined()
    expect(killed.report.records).toBeGreaterThanOrEqual(acked)
    const [segment] = segmentsOf(logDir)
    // A crash mid-write leaves half a line: still intact, reported as a torn tail after the last checkpoint.
    fs.appendFileSync(path.join(logDir, segment), '{"v":2,"id":"torn","ts":"2026-')
    const torn = verify(logDir, '--public-key', publicKey!)
    expect(torn.status).toBe(0)
    expect(torn.report.chains[0].torn_lines).toEqual([{file: segment, line: killed.report.records + 1, bytes: 30}])
    expect(torn.report.chains[0].records).toBe(killed.report.records)
    const text = runCli(['audit', 'verify', '--log-dir', logDir])
    expect(text.status).toBe(0)
    expect(text.stdout).toContain(`torn line ${segment}:${killed.report.records + 1}`)
    expect(text.stdout).toContain('not tampering')

    // Restart: same instance, same key, the chain continues from the last durable record.
    daemon = await spawnDaemon(args, {}, 60_000) // a loaded machine starts a CLI slowly
    expect(await printedKey(daemon)).toBe(publicKey)
    const status = runCli(['daemon', 'status', '--url', daemon.url, '--json'])
    expect(JSON.parse(status.stdout).storage.decision_log).toMatchObject({chained: true, checkpoint_public_key: publicKey, chain_records: killed.report.records})
    const statusText = runCli(['daemon', 'status', '--url', daemon.url])
    expect(statusText.stdout).toContain(`public key: ${publicKey}`)
    for (let i = 0; i < 5; i++) expect((await call(daemon.url, 'POST', '/v1/reservations', dryRun(100_000 + i), auth)).status).toBe(200)
    daemon.child.kill('SIGTERM')
    expect(await daemon.exited).toBe(0)
    daemon = undefined
    const restarted = verify(logDir, '--public-key', publicKey!)
    expect(restarted.status, JSON.stringify(restarted.report.break)).toBe(0)
    expect(restarted.report.chains).toHaveLength(1)
    expect(restarted.report.chains[0]).toMatchObject({records: killed.report.records + 5, files: 2, records_after_last_checkpoint: 0, torn_lines: [{file: segment}]})
    expect(checkpointLines(logDir).at(-1)).toMatchObject({reason: 'shutdown', records: killed.report.records + 5})

    // Ingest with --verify takes the intact log (both schema versions are read).
    const db = path.join(dir, 'shadow.duckdb')
    const ingested = runCli(['shadow', 'ingest', logDir, '--db', db, '--verify', '--json'])
    expect(ingested.status, ingested.stderr).toBe(0)
    expect(JSON.parse(ingested.stdout)).toMatchObject({ingested: killed.report.records + 5, failed_files: 0})

    // An edited field: exit 13 with the file, line and record id; ingest --verify refuses and loads nothing.
    const lines = fs.readFileSync(path.join(logDir, segment), 'utf8').split('\n')
    const victim = JSON.parse(lines[9])
    lines[9] = lines[9].replace('"estimate":5', '"estimate":50')
    fs.writeFileSync(path.join(logDir, segment), lines.join('\n'))
    const tampered = verify(logDir)
    expect(tampered.status).toBe(EXIT.TAMPERED)
    expect(tampered.report.intact).toBe(false)
    expect(tampered.report.break).toEqual({kind: 'edited', instance: expect.stringMatching(/^[0-9a-f]{6}$/), file: segment, line: 10, record_id: victim.id, message: expect.stringContaining('does not match its hash')})
    const tamperedText = runCli(['audit', 'verify', '--log-dir', logDir])
    expect(tamperedText.status).toBe(EXIT.TAMPERED)
    expect(tamperedText.stderr).toContain(`TAMPERED (edited) at ${segment} line 10 (record ${victim.id})`)
    const refusedDb = path.join(dir, 'refused.duckdb')
    const refused = runCli(['shadow', 'ingest', logDir, '--db', refusedDb, '--verify'])
    expect(refused.status).toBe(EXIT.TAMPERED)
    expect(refused.stderr).toContain(`LOG_TAMPERED`)
    expect(refused.stderr).toContain(`${segment} line 10 (record ${victim.id})`)
    expect(fs.existsSync(refusedDb)).toBe(false)
  }, 120_000)

  it('usage errors: a missing directory, a directory without segments, a bad --public-key', () => {
    const dir = tempDir('cycles-verify-cli-')
    expect(runCli(['audit', 'verify', '--log-dir', path.join(dir, 'nope')]).status).toBe(EXIT.NOT_FOUND)
    const empty = runCli(['audit', 'verify', '--log-dir', dir, '--json'])
    expect(empty.status).toBe(EXIT.NOT_FOUND)
    expect(JSON.parse(empty.stdout).error.code).toBe('INPUT_NOT_FOUND')
    fs.writeFileSync(path.join(dir, 'decisions-2026112800-abc123-0001.jsonl'), '{"v":1}\n')
    const badKey = runCli(['audit', 'verify', '--log-dir', dir, '--public-key', 'ed25519:short', '--json'])
    expect(badKey.status).toBe(EXIT.USAGE)
    expect(JSON.parse(badKey.stdout).error.message).toContain('--public-key')
  })
})
