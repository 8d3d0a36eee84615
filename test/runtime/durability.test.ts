// kill -9 during a burst of acknowledged requests: every acknowledged decision is in the decision
// log, and every acknowledged mutation survives the restart (embedded store journal).
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {call, readRecords, tempDir} from '../support/daemon.js'
import {type SpawnedDaemon, spawnDaemon} from '../support/process.js'

const KEY = 'cyc_test_acme_0123456789abcdef'
const CONFIG = `
tenants: [{id: acme}]
api_keys: [{tenant: acme, secret: ${KEY}}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 1000000000}
  - {scope: "tenant:acme/workspace:prod", unit: TOKENS, allocated: 1000000000}
tiers:
  low: {mode: enforce, match: ["search.*"]}
  medium: {mode: shadow, match: ["llm.*"]}
  high: {mode: enforce, match: []}
`
const auth = {'X-Cycles-API-Key': KEY}

interface Acked {
  requestId: string
  kind: 'reserve' | 'dry' | 'commit'
  reservationId?: string
  estimate?: number
  actual?: number
}

let daemon: SpawnedDaemon | undefined
afterAll(() => {
  daemon?.child.kill('SIGKILL')
})

describe('durability under kill -9', () => {
  it('loses no acknowledged decision and no acknowledged mutation', async () => {
    const dir = tempDir('cycles-kill9-')
    const configPath = path.join(dir, 'cycles.yaml')
    fs.writeFileSync(configPath, CONFIG)
    const args = ['--config', configPath, '--log-dir', path.join(dir, 'log'), '--state-dir', path.join(dir, 'state')]
    daemon = await spawnDaemon(args)
    const url = daemon.url

    const acked: Acked[] = []
    let stop = false
    let seq = 0
    const worker = async (w: number) => {
      while (!stop) {
        const i = ++seq
        try {
          if (i % 3 === 0) {
            const res = await call(url, 'POST', '/v1/reservations', {idempotency_key: `d-${i}`, subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 7}, dry_run: true}, auth)
            if (res.status === 200) acked.push({requestId: res.headers.get('x-request-id')!, kind: 'dry'})
            continue
          }
          const estimate = 100 + (i % 50)
          const res = await call(url, 'POST', '/v1/reservations', {idempotency_key: `r-${i}`, subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'search.web', name: 'x'}, estimate: {unit: 'TOKENS', amount: estimate}}, auth)
          if (res.status !== 200) continue
          const reservationId = res.body.reservation_id as string
          acked.push({requestId: res.headers.get('x-request-id')!, kind: 'reserve', reservationId, estimate})
          if (w % 2 === 0) {
            const actual = estimate - 10
            const c = await call(url, 'POST', `/v1/reservations/${reservationId}/commit`, {idempotency_key: `c-${i}`, actual: {unit: 'TOKENS', amount: actual}}, auth)
            if (c.status === 200) acked.push({requestId: c.headers.get('x-request-id')!, kind: 'commit', reservationId, actual})
          }
        } catch {
          // connection reset by the kill: not acknowledged
        }
      }
    }
    const workers = Array.from({length: 16}, (_, w) => worker(w))
    // Kill once enough of each kind is acknowledged (at least 1.5 s in, at most 30 s): a busy host
    // answers fewer requests per second, and the checks below need a burst of known size.
    const enoughAcked = () => ['reserve', 'commit', 'dry'].every((k) => acked.filter((a) => a.kind === k).length > (k === 'reserve' ? 150 : 50))
    const started = Date.now()
    while (Date.now() - started < 1500 || (!enoughAcked() && Date.now() - started < 30_000)) await new Promise((r) => setTimeout(r, 50))
    daemon.child.kill('SIGKILL')
    await daemon.exited
    stop = true
    await Promise.all(workers)
    // Enough of each kind: dry-runs alone must not satisfy the guard (with every live reserve failing,
    // the checks below would otherwise look at zero reservations and pass).
    const count = (kind: Acked['kind']) => acked.filter((a) => a.kind === kind).length
    expect(count('reserve')).toBeGreaterThan(100)
    expect(count('commit')).toBeGreaterThan(30)
    expect(count('dry')).toBeGreaterThan(30)

    // 1. every acknowledged decision is in the log (a torn last line is tolerated, it was never acked)
    const logged = new Set<string>()
    for (const f of fs.readdirSync(path.join(dir, 'log'))) {
      for (const line of fs.readFileSync(path.join(dir, 'log', f), 'utf8').split('\n')) {
        try {
          logged.add(JSON.parse(line).request_id)
        } catch {
          // torn line
        }
      }
    }
    const missing = acked.filter((a) => !logged.has(a.requestId))
    expect(missing).toEqual([])

    // 2. every acknowledged mutation survives the restart
    daemon = await spawnDaemon(args)
    const committed = new Map(acked.filter((a) => a.kind === 'commit').map((a) => [a.reservationId!, a.actual!]))
    const reservations = acked.filter((a) => a.kind === 'reserve')
    for (const r of reservations) {
      const res = await call(daemon.url, 'GET', `/v1/reservations/${r.reservationId}`, undefined, auth)
      expect(res.status, `reservation ${r.reservationId}`).toBe(200)
      if (committed.has(r.reservationId!)) {
        expect(res.body.status).toBe('COMMITTED')
        expect(res.body.committed.amount).toBe(committed.get(r.reservationId!))
      }
    }
    // the ledger agrees with the surviving reservations exactly
    const all: any[] = []
    let cursor = ''
    for (;;) {
      const page = await call(daemon.url, 'GET', `/v1/reservations?limit=200${cursor ? `&cursor=${cursor}` : ''}`, undefined, auth)
      all.push(...page.body.reservations)
      if (!page.body.next_cursor) break
      cursor = page.body.next_cursor
    }
    const balances = await call(daemon.url, 'GET', '/v1/balances?tenant=acme&workspace=prod', undefined, auth)
    const prod = balances.body.balances.find((b: any) => b.scope_path === 'tenant:acme/workspace:prod')
    const active = all.filter((r) => r.status === 'ACTIVE').reduce((s, r) => s + r.reserved.amount, 0)
    const spent = all.filter((r) => r.status === 'COMMITTED').reduce((s, r) => s + r.committed.amount, 0)
    expect(prod.reserved.amount).toBe(active)
    expect(prod.spent.amount).toBe(spent)
    expect(spent).toBeGreaterThanOrEqual([...committed.values()].reduce((s, v) => s + v, 0))
    expect(all.filter((r) => r.status === 'COMMITTED').length).toBeGreaterThanOrEqual(committed.size)
    // the restarted daemon keeps logging: a request made after the restart is in the log once it stops
    const after = await call(daemon.url, 'POST', '/v1/reservations', {idempotency_key: 'after-restart', subject: {tenant: 'acme', workspace: 'prod'}, action: {kind: 'llm.chat', name: 'x'}, estimate: {unit: 'TOKENS', amount: 7}, dry_run: true}, auth)
    expect(after.status, after.text).toBe(200)
    daemon.child.kill('SIGTERM')
    expect(await daemon.exited).toBe(0)
    daemon = undefined
    const afterRecord = readRecords(path.join(dir, 'log')).filter((r) => r.request_id === after.headers.get('x-request-id'))
    expect(afterRecord).toMatchObject([{endpoint: 'reserve', dry_run: true, decision: 'ALLOW', http_status: 200}])
  }, 60_000)
})
