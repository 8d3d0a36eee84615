// Usage errors and prompts of the built CLI as a user meets them: a mistyped flag names the flag it
// meant; declining a prompt (in a real pseudo-terminal) is a plain line and exit 2, and changes nothing.
import {execFile} from 'node:child_process'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertBuilt, cli} from '../admin/cli.js'
import {ADMIN_KEY, admin} from '../admin/support.js'
import {type TestDaemon, startTestDaemon} from '../support/daemon.js'
import {PROJECT_ROOT} from '../support/spec.js'

const CONFIG = `
tenants: [{id: acme}]
budgets:
  - {scope: "tenant:acme", unit: TOKENS, allocated: 1000}
admin_key: ${ADMIN_KEY}
`

/** Run the CLI under `script`, so stdin is a TTY, typing `answer` at the prompt. */
function inPty(args: string[], answer: string, env: Record<string, string>): Promise<{code: number; output: string}> {
  const command = [process.execPath, path.join(PROJECT_ROOT, 'bin', 'run.js'), ...args].map((a) => `'${a}'`).join(' ')
  return new Promise((resolve) => {
    const child = execFile('script', ['-qec', command, '/dev/null'], {cwd: PROJECT_ROOT, env: {...process.env, NO_COLOR: '1', ...env}, timeout: 30_000}, (error, stdout) => {
      resolve({code: error ? Number((error as {code?: unknown}).code ?? 1) : 0, output: stdout})
    })
    // Answer once the prompt is there; the pty echoes it back into the output.
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('[y/N]')) child.stdin!.write(`${answer}\n`)
    })
  })
}

describe('usage errors and prompts (built CLI)', () => {
  let d: TestDaemon
  let env: Record<string, string>
  beforeAll(async () => {
    assertBuilt()
    d = await startTestDaemon(CONFIG, {adminPort: 0})
    env = {CYCLES_ADMIN_URL: d.daemon.adminUrl, CYCLES_ADMIN_API_KEY: ADMIN_KEY}
  })
  afterAll(async () => d?.stop())

  it('a mistyped flag is a usage error (exit 2) that names the flag it meant', async () => {
    const r = await cli(['budget', 'list', '--tenent', 'acme'], env)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('Error [USAGE]: Nonexistent flag: --tenent')
    expect(r.stderr).toContain('→ did you mean --tenant?')
  })

  it('-h is --help and -v the version, for the CLI and for a command', async () => {
    const help = await cli(['budget', 'list', '-h'], env)
    expect(help.code, help.stderr).toBe(0)
    expect(help.stdout).toContain('List budgets (most used first)')
    expect(help.stdout).toContain('--tenant=<value>')
    const top = await cli(['-h'], env)
    expect(top.code).toBe(0)
    expect(top.stdout).toMatch(/TOPICS[\s\S]*budget/)
    const version = await cli(['-v'], env)
    expect(version.stdout).toMatch(/^cycles\/\d+\.\d+\.\d+ /)
  })

  it('a flag nothing like any other gets no guess', async () => {
    const r = await cli(['budget', 'list', '--zzzzzzzz', 'acme'], env)
    expect(r.code).toBe(2)
    expect(r.stderr).not.toContain('did you mean')
  })

  it('declining a prompt prints one plain line, exits 2 and changes nothing', async () => {
    const r = await inPty(['budget', 'freeze', '--scope', 'tenant:acme', '--unit', 'TOKENS', '--reason', 'test'], 'n', env)
    expect(r.output).toContain('[y/N]')
    expect(r.output).toContain('aborted: nothing was changed')
    expect(r.output).not.toContain('Error [')
    expect(r.code).toBe(2)
    const budgets = await admin(d.daemon.adminUrl, 'GET', '/v1/admin/budgets?scope_prefix=tenant:acme')
    expect(budgets.body.ledgers.map((l: {status: string}) => l.status)).toEqual(['ACTIVE'])
  })
})
