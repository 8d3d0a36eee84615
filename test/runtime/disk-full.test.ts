// A full disk, for real: the file the daemon writes next is a symlink to /dev/full, whose writes
// fail with ENOSPC (no privileges needed). "Space returns" = the symlink is removed, so the same
// path is created as a regular file on the next attempt.
import fs from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {parseConfig} from '../../src/config/load.js'
import {Daemon} from '../../src/daemon/daemon.js'
import {EmbeddedStore} from '../../src/store/embedded/embedded-store.js'
import {ACME_KEY, FIXTURE_CONFIG, call, readRecords, tempDir} from '../support/daemon.js'

const CONFIG = FIXTURE_CONFIG.replace('medium: { mode: shadow', 'medium: { mode: enforce')
const headers = {'X-Cycles-API-Key': ACME_KEY}
const subject = {tenant: 'acme', workspace: 'prod'}
const reserveBody = (key: string, extra: Record<string, unknown> = {}) => ({
  idempotency_key: key,
  subject,
  action: {kind: 'llm.chat', name: 'gpt'},
  estimate: {unit: 'USD_MICROCENTS', amount: 1000},
  ...extra,
})

const running: Daemon[] = []
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop().catch(() => {})
})

function isEnvelope(body: any): boolean {
  return typeof body?.error === 'string' && typeof body.message === 'string' && typeof body.request_id === 'string' && /^[0-9a-f]{32}$/.test(body.trace_id)
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`gave up waiting for ${what}`)
}

function segmentName(seq: number): string {
  return `journal-${String(seq).padStart(8, '0')}.jsonl`
}

/** Every line of every journal segment parses: a failed write never left half a line. */
function journalLinesAllWhole(stateDir: string): number {
  let lines = 0
  for (const name of fs.readdirSync(stateDir).filter((n) => n.startsWith('journal-'))) {
    const text = fs.readFileSync(path.join(stateDir, name), 'utf8')
    if (text !== '') expect(text.endsWith('\n')).toBe(true)
    for (const line of text.split('\n').filter(Boolean)) {
      JSON.parse(line)
      lines++
    }
  }
  return lines
}

async function reservedAt(url: string, scope: string): Promise<number> {
  const res = await call(url, 'GET', `/v1/balances?tenant=acme&workspace=prod`, undefined, headers)
  const balance = res.body.balances.find((b: any) => b.scope_path === scope && b.reserved.unit === 'USD_MICROCENTS')
  return balance.reserved.amount
}

describe('state disk full', () => {
  it('refuses changes with a 503 envelope, keeps dry-runs and decides, is not ready, and resumes by itself', async () => {
    const dir = tempDir()
    const stateDir = path.join(dir, 'state')
    // Every batch starts a new segment, so the next segment can be made a /dev/full while running.
    const store = await EmbeddedStore.open({stateDir, journalSegmentBytes: 1, fsyncIntervalMs: 0})
    const daemon = await Daemon.start({config: parseConfig(CONFIG), port: 0, logDir: path.join(dir, 'log'), store, sweepIntervalMs: 50})
    running.push(daemon)
    const url = daemon.url

    const before = await call(url, 'POST', '/v1/reservations', reserveBody('acked-1'), headers)
    expect(before.status).toBe(200)
    const acked = before.body.reservation_id as string
    expect(await reservedAt(url, 'tenant:acme/workspace:prod')).toBe(1000)

    // The disk fills: the next segment cannot be written.
    const current = Number(/journal-(\d+)/.exec(store.journalPath)![1])
    const full = path.join(stateDir, segmentName(current + 1))
    fs.symlinkSync('/dev/full', full)

    // The batch that meets the full disk: applied in memory, never acknowledged.
    const first = await call(url, 'POST', '/v1/reservations', reserveBody('during-1'), headers)
    expect(first.status).toBe(503)
    expect(isEnvelope(first.body)).toBe(true)
    expect(first.body.error).toBe('INTERNAL_ERROR')
    expect(first.body.message).toMatch(/state disk is full/)
    expect(store.journalFailure).toMatchObject({code: 'DISK_FULL', errno: 'ENOSPC'})

    // Later changes are refused before they touch anything.
    const commit = await call(url, 'POST', `/v1/reservations/${acked}/commit`, {idempotency_key: 'c-1', actual: {unit: 'USD_MICROCENTS', amount: 900}}, headers)
    expect(commit.status).toBe(503)
    expect(isEnvelope(commit.body)).toBe(true)
    const refused = await call(url, 'POST', '/v1/reservations', reserveBody('during-2'), headers)
    expect(refused.status).toBe(503)
    const event = await call(url, 'POST', '/v1/events', {idempotency_key: 'e-1', subject, action: {kind: 'llm.chat', name: 'gpt'}, actual: {unit: 'USD_MICROCENTS', amount: 5}}, headers)
    expect(event.status).toBe(503)

    // Dry-runs, decides and reads go on from memory.
    const dry = await call(url, 'POST', '/v1/reservations', reserveBody('dry-1', {dry_run: true}), headers)
    expect(dry.status).toBe(200)
    expect(dry.body.decision).toBe('ALLOW')
    const decide = await call(url, 'POST', '/v1/decide', reserveBody('decide-1'), headers)
    expect(decide.status).toBe(200)
    expect(decide.body.decision).toBe('ALLOW')
    // acked-1 plus the unacknowledged during-1, which is in memory and will be written
    expect(await reservedAt(url, 'tenant:acme/workspace:prod')).toBe(2000)

    const readiness = await call(url, 'GET', '/actuator/health/readiness')
    expect(readiness.status).toBe(503)
    expect(readiness.body.status).toBe('DOWN')
    expect(readiness.body.detail).toMatch(/state journal: .*disk full \(ENOSPC\)/)
    const status = (await call(url, 'GET', '/actuator/cycles/status')).body
    expect(status.storage.state).toMatchObject({writable: false, error: 'ENOSPC'})
    expect(status.storage.state.unwritten_bytes).toBeGreaterThan(0)

    // Space returns: the daemon writes what it held and takes changes again, by itself.
    fs.unlinkSync(full)
    await until(async () => (await call(url, 'GET', '/actuator/health/readiness')).status === 200, 'readiness after space returned')
    expect(store.journalFailure).toBeUndefined()
    const committed = await call(url, 'POST', `/v1/reservations/${acked}/commit`, {idempotency_key: 'c-1', actual: {unit: 'USD_MICROCENTS', amount: 900}}, headers)
    expect(committed.status).toBe(200)
    expect(committed.body.status).toBe('COMMITTED')
    // The retry of the unacknowledged reserve gets its one reservation (now on disk), not a second hold.
    const retried = await call(url, 'POST', '/v1/reservations', reserveBody('during-1'), headers)
    expect(retried.status).toBe(200)
    expect(await reservedAt(url, 'tenant:acme/workspace:prod')).toBe(1000)
    const afterStatus = (await call(url, 'GET', '/actuator/cycles/status')).body
    expect(afterStatus.storage.state).toEqual({writable: true, unwritten_bytes: 0, lines_dropped: 0})

    // Nothing acknowledged is lost across a restart, and no line was torn.
    await daemon.stop()
    journalLinesAllWhole(stateDir)
    const again = await Daemon.start({config: parseConfig(CONFIG), port: 0, logDir: path.join(dir, 'log'), stateDir})
    running.push(again)
    const r = await call(again.url, 'GET', `/v1/reservations/${acked}`, undefined, headers)
    expect(r.body.status).toBe('COMMITTED')
    const held = await call(again.url, 'GET', `/v1/reservations/${retried.body.reservation_id}`, undefined, headers)
    expect(held.body.status).toBe('ACTIVE')
    expect(await reservedAt(again.url, 'tenant:acme/workspace:prod')).toBe(1000)
  }, 30_000)

  it('a restart on a still-full disk starts (not ready for changes), leaves no snapshot.jsonl.tmp, and resumes', async () => {
    const dir = tempDir()
    const stateDir = path.join(dir, 'state')
    const logDir = path.join(dir, 'log')
    const first = await Daemon.start({config: parseConfig(CONFIG), port: 0, logDir, stateDir})
    const acked = (await call(first.url, 'POST', '/v1/reservations', reserveBody('acked-1'), headers)).body.reservation_id
    await first.stop()

    // Full disk: the snapshot written at recovery and the first new journal segment cannot be written.
    const head = JSON.parse(fs.readFileSync(path.join(stateDir, 'snapshot.jsonl'), 'utf8').split('\n')[0])
    const snapshotBefore = fs.readFileSync(path.join(stateDir, 'snapshot.jsonl'))
    fs.symlinkSync('/dev/full', path.join(stateDir, 'snapshot.jsonl.tmp'))
    const daemon = await Daemon.start({config: parseConfig(CONFIG), port: 0, logDir, stateDir, sweepIntervalMs: 50})
    running.push(daemon)
    // (made after recovery, which would read it; the journal opens its segment at the first change)
    const nextSegment = path.join(stateDir, segmentName(head.journal_through + 1))
    fs.symlinkSync('/dev/full', nextSegment)
    expect(fs.existsSync(path.join(stateDir, 'snapshot.jsonl.tmp'))).toBe(false)
    expect((daemon.store as EmbeddedStore).recovery.snapshotError).toMatch(/ENOSPC/)
    expect(fs.readFileSync(path.join(stateDir, 'snapshot.jsonl'))).toEqual(snapshotBefore)

    // State from before is served; a change meets the full disk and is not acknowledged.
    const r = await call(daemon.url, 'GET', `/v1/reservations/${acked}`, undefined, headers)
    expect(r.body.status).toBe('ACTIVE')
    const change = await call(daemon.url, 'POST', `/v1/reservations/${acked}/release`, {idempotency_key: 'rel-1'}, headers)
    expect(change.status).toBe(503)
    expect(isEnvelope(change.body)).toBe(true)
    expect((await call(daemon.url, 'POST', '/v1/decide', reserveBody('decide-1'), headers)).status).toBe(200)
    expect((await call(daemon.url, 'GET', '/actuator/health/readiness')).status).toBe(503)

    fs.unlinkSync(nextSegment)
    await until(async () => (await call(daemon.url, 'GET', '/actuator/health/readiness')).status === 200, 'readiness after space returned')
    const release = await call(daemon.url, 'POST', `/v1/reservations/${acked}/release`, {idempotency_key: 'rel-1'}, headers)
    expect(release.status).toBe(200)
    expect(release.body.status).toBe('RELEASED')
    await daemon.stop()
    running.length = 0
    journalLinesAllWhole(stateDir)
  }, 30_000)
})

describe('log disk full', () => {
  it('keeps serving decisions, counts the dropped records in status, and logs the count once space returns', async () => {
    const dir = tempDir()
    const logDir = path.join(dir, 'log')
    let now = Date.parse('2026-11-27T10:30:00.000Z')
    const lines: string[] = []
    const daemon = await Daemon.start({
      config: parseConfig(FIXTURE_CONFIG), port: 0, logDir, stateDir: path.join(dir, 'state'), now: () => now, log: (l) => lines.push(l), sweepIntervalMs: 60_000,
    })
    running.push(daemon)
    const url = daemon.url
    expect((await call(url, 'POST', '/v1/decide', reserveBody('before'), headers)).status).toBe(200)
    const firstSegment = daemon.decisions.currentPath
    expect(path.basename(firstSegment)).toMatch(/^decisions-2026112710-[0-9a-f]{6}-0001\.jsonl$/)

    // The next hour's segment is on a full disk.
    now += 3_600_000
    const full = firstSegment.replace('2026112710', '2026112711').replace('-0001.jsonl', '-0002.jsonl')
    fs.symlinkSync('/dev/full', full)
    for (let i = 0; i < 5; i++) {
      const res = await call(url, 'POST', i % 2 ? '/v1/decide' : '/v1/reservations', reserveBody(`during-${i}`, i % 2 ? {} : {dry_run: true}), headers)
      expect(res.status).toBe(200)
      expect(res.body.decision).toBe('ALLOW')
    }
    // A live reserve too: the state disk is fine, so it is acknowledged although its record is dropped.
    expect((await call(url, 'POST', '/v1/reservations', reserveBody('live-1'), headers)).status).toBe(200)
    let status = (await call(url, 'GET', '/actuator/cycles/status')).body
    expect(status.storage.decision_log).toMatchObject({writable: false, error: 'ENOSPC', records_written: 1, records_dropped: 6})
    expect((await call(url, 'GET', '/actuator/health/readiness')).status).toBe(200)
    expect(lines.some((l) => /^decision log: cannot write .*-0002\.jsonl: disk full \(ENOSPC\)/.test(l))).toBe(true)

    // Space returns; the next record after the retry interval is written and the gap is logged.
    fs.unlinkSync(full)
    now += 1500
    expect((await call(url, 'POST', '/v1/decide', reserveBody('after'), headers)).status).toBe(200)
    status = (await call(url, 'GET', '/actuator/cycles/status')).body
    expect(status.storage.decision_log).toEqual({
      writable: true, records_written: 2, records_dropped: 6, files_deleted_by_retention: 0,
      // the dropped records were rolled back out of the hash chain: it holds the two written
      chained: true, instance: expect.stringMatching(/^[0-9a-f]{6}$/), chain_records: 2, chain_head: expect.stringMatching(/^[0-9a-f]{64}$/),
      checkpoint_public_key: expect.stringMatching(/^ed25519:/), last_checkpoint: {n: 1, ts: expect.any(String), records: 0},
    })
    expect(lines).toContain('decision log: writing again; 6 record(s) dropped from 2026-11-27T11:30:00.000Z to 2026-11-27T11:30:01.500Z (ENOSPC)')
    const records = readRecords(logDir)
    expect(records.map((r) => (r.endpoint === 'decide' ? r.decision : r.endpoint))).toEqual(['ALLOW', 'ALLOW'])
    expect(fs.readFileSync(full, 'utf8').trim().split('\n')).toHaveLength(1)
  }, 30_000)
})
