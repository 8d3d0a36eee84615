// `cycles approvals list | show | approve | reject` as a user runs them (the built CLI, a child
// process) against a real daemon: human and --json output, the audit row's actor and reason, and the
// exit codes of a missing reason, an unknown id and a second decision.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {approvalGate} from '../../src/approvals/gate.js'
import {assertBuilt, cli} from '../admin/cli.js'
import {ADMIN_CONFIG, ADMIN_KEY, admin} from '../admin/support.js'
import {type TestDaemon, startTestDaemon} from '../support/daemon.js'

describe('cycles approvals (built CLI)', () => {
  let d: TestDaemon
  let env: Record<string, string>
  const queue = async (amount: number) => {
    const v = await approvalGate(d.daemon.store, {tenant: 'acme', subject: 'tenant:acme/workspace:prod/agent:mailer', action_kind: 'email.send', estimate: {unit: 'RISK_POINTS', amount}, nowMs: Date.now()})
    if (v.admitted) throw new Error('expected a denial')
    return v.request_id
  }
  beforeAll(async () => {
    assertBuilt()
    d = await startTestDaemon(ADMIN_CONFIG, {adminPort: 0})
    env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
  })
  afterAll(async () => {
    await d.stop()
  })

  it('list shows the pending request; approve prints the grant and audits actor and reason', async () => {
    const id = await queue(7)
    const list = await cli(['approvals', 'list', '--status', 'pending'], env)
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toContain(id)
    expect(list.stdout).toContain('email.send')
    const json = await cli(['approvals', 'list', '--json'], env)
    expect(json.json.approvals.map((a: {request_id: string; status: string}) => [a.request_id, a.status])).toContainEqual([id, 'PENDING'])

    const approve = await cli(['approvals', 'approve', id, '--reason', 'follow-up for INC-9', '--actor', 'carol', '--ttl', '600', '--json'], env)
    expect(approve.code, approve.stderr).toBe(0)
    expect(approve.json).toMatchObject({request_id: id, status: 'APPROVED', decided_by: 'carol', reason: 'follow-up for INC-9'})
    expect(Date.parse(approve.json.grant_expires_at) - Date.parse(approve.json.decided_at)).toBe(600_000)
    const rows = await admin(d.daemon.adminUrl, 'GET', `/v1/admin/audit/logs?operation=approveApprovalRequest&resource_id=${id}`)
    expect(rows.body.logs.map((l: {metadata: unknown}) => l.metadata)).toEqual([expect.objectContaining({actor: 'carol', reason: 'follow-up for INC-9'})])

    const again = await cli(['approvals', 'reject', id, '--reason', 'too late'], env)
    expect(again.code).toBe(6) // 409: already decided
    expect(again.stderr).toContain('is APPROVED')
  })

  it('reject needs --reason (usage, exit 2); with one it is shown as REJECTED; unknown ids exit 5', async () => {
    const id = await queue(8)
    const bare = await cli(['approvals', 'reject', id], env)
    expect(bare.code).toBe(2)
    expect(bare.stderr).toContain('reason')
    const rejected = await cli(['approvals', 'reject', id, '--reason', 'no mail to this domain', '--actor', 'dave'], env)
    expect(rejected.code, rejected.stderr).toBe(0)
    expect(rejected.stdout).toMatch(/status\s+REJECTED/)
    const show = await cli(['approvals', 'show', id, '--json'], env)
    expect(show.json).toMatchObject({status: 'REJECTED', decided_by: 'dave', reason: 'no mail to this domain'})
    const missing = await cli(['approvals', 'show', 'apr_unknown_0000'], env)
    expect(missing.code).toBe(5)
    expect(missing.stderr).toContain('apr_unknown_0000')
  })
})
