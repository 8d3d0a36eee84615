// `cycles policy list | show | create | update | delete` (built CLI as a child process) against a real
// daemon: the round trip through the admin API, exit codes on a refused body and a missing policy.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertBuilt, cli} from '../admin/cli.js'
import {type TestDaemon, startTestDaemon, tempDir} from '../support/daemon.js'
import {ADMIN_KEY} from './support.js'

let d: TestDaemon
let env: Record<string, string>
const dir = tempDir('cycles-policy-cli-')
beforeAll(async () => {
  assertBuilt()
  d = await startTestDaemon(`admin_key: ${ADMIN_KEY}\ntenants: [{id: acme}]\n`, {adminPort: 0})
  env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
})
afterAll(async () => d?.stop())

describe('cycles policy', () => {
  it('creates from flags and a file, lists, shows, updates, deletes', async () => {
    const file = path.join(dir, 'sandbox.yaml')
    fs.writeFileSync(file, 'denied_action_kinds: [payment.charge]\naction_quotas:\n  - {action_kind: message.email.send, max_calls: 3, window: per_run}\n')
    const created = await cli(['policy', 'create', '--tenant', 'acme', '--name', 'sandbox', '--scope-pattern', 'tenant:acme/*', '--priority', '5', '--file', file, '--json'], env)
    expect(created.code, created.stderr).toBe(0)
    expect(created.json).toMatchObject({name: 'sandbox', priority: 5, denied_action_kinds: ['payment.charge']})
    const id = created.json.policy_id as string
    const list = await cli(['policy', 'list', '--tenant', 'acme'], env)
    expect(list.code).toBe(0)
    expect(list.stdout).toContain(id)
    expect(list.stdout).toContain('deny payment.charge; message.email.send ≤3/per_run')
    expect((await cli(['policy', 'show', id, '--json'], env)).json.action_quotas).toEqual([{action_kind: 'message.email.send', max_calls: 3, window: 'per_run'}])
    const disabled = await cli(['policy', 'update', id, '--status', 'DISABLED', '--yes', '--json'], env)
    expect(disabled.json.status).toBe('DISABLED')
    expect((await cli(['policy', 'delete', id, '--reason', 'test', '--yes'], env)).code).toBe(0)
    const gone = await cli(['policy', 'show', id], env)
    expect(gone.code).not.toBe(0)
    expect(gone.stderr).toMatch(/not found/i)
  })

  it('a refused body exits with the usage code and the server message', async () => {
    const bad = await cli(['policy', 'create', '--tenant', 'acme', '--name', 'x', '--scope-pattern', 'tenant:acme/*/agent:x'], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/first or the last/)
  })
})
