// The README's examples run as written: every ```sh block preceded by `<!-- runnable -->` runs, in
// order, in one bash (so an `export` or a daemon started with `&` carries to the next block), with
// `cycles` on PATH as `npm link` puts it, in a temporary directory holding links to bin/ and
// fixtures/. The only change to the text: free ports in place of 7878 and 7979, so the test never
// collides with a daemon on this machine. Any non-zero exit fails the test and names the block.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {tempDir} from '../support/daemon.js'
import {BIN, assertBuilt} from '../support/process.js'
import {PROJECT_ROOT} from '../support/spec.js'

/** The ```sh blocks marked runnable, in README order. */
export function runnableBlocks(readme: string): string[] {
  const blocks: string[] = []
  const re = /<!-- runnable -->\s*\n```sh\n([\s\S]*?)\n```/g
  for (let m = re.exec(readme); m; m = re.exec(readme)) blocks.push(m[1])
  return blocks
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

let group: number | undefined
afterAll(() => {
  // The README starts the daemon with `&`: stop the whole process group the script ran in.
  if (group) {
    try {
      process.kill(-group, 'SIGKILL')
    } catch {
      // already gone
    }
  }
})

describe('README examples', () => {
  const blocks = runnableBlocks(fs.readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8'))

  it('marks the Quickstart daemon, a runbook command and the simulator as runnable', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3)
    expect(blocks[0]).toMatch(/cycles daemon start --config fixtures\/cycles\.yaml &/)
    expect(blocks.join('\n')).toMatch(/cycles simulate .*--url http:\/\/127\.0\.0\.1:7878/)
    expect(blocks.join('\n')).toMatch(/cycles budget show /)
  })

  it('every runnable block exits 0 against the daemon the README starts', {timeout: 240_000}, async () => {
    assertBuilt()
    const dir = tempDir('cycles-readme-')
    for (const name of ['bin', 'fixtures']) fs.symlinkSync(path.join(PROJECT_ROOT, name), path.join(dir, name))
    const pathDir = path.join(dir, '.path')
    fs.mkdirSync(pathDir)
    fs.writeFileSync(path.join(pathDir, 'cycles'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, {mode: 0o755})
    const [port, adminPort] = [await freePort(), await freePort()]
    const withPorts = (text: string) => text.replaceAll(':7878', `:${port}`).replaceAll(':7979', `:${adminPort}`)
    const script = ['set -eo pipefail', ...blocks.flatMap((block, i) => [`echo "::block ${i + 1}" >&2`, withPorts(block)]), 'echo "::all blocks passed" >&2'].join('\n')
    const child = spawn('bash', ['-c', script], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NO_COLOR: '1',
        PATH: `${pathDir}:${process.env.PATH}`,
        // What the defaults would be with 7878/7979 free (the flags' own environment variables).
        CYCLES_PORT: String(port),
        CYCLES_ADMIN_PORT: String(adminPort),
        CYCLES_BASE_URL: `http://127.0.0.1:${port}`,
        CYCLES_ADMIN_URL: `http://127.0.0.1:${adminPort}`,
        CYCLES_ADMIN_API_KEY: '',
      },
    })
    group = child.pid
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    const failedBlock = [...err.matchAll(/::block (\d+)/g)].at(-1)?.[1]
    expect({code, failedBlock: code === 0 ? undefined : failedBlock, stderr: code === 0 ? '' : err.slice(-3000)}).toEqual({code: 0, failedBlock: undefined, stderr: ''})
    expect(err).toContain('::all blocks passed')
    // The blocks did what they say: the dry-run answered, the runbook reached the admin plane.
    expect(out).toMatch(/"decision":"ALLOW"/)
    expect(out).toMatch(/tenant:acme/)
  })
})
