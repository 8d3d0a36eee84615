// Issue 12 §2, start-up: `npm run build` writes the oclif manifest (a cache of every built command and
// its flags, so `--help` and a command start without loading every command file). The built entry
// (bin/run.js) uses it; the development entry (bin/dev.js, TypeScript sources) never does, so a stale
// manifest cannot shadow an edited source.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {assertBuilt} from '../admin/cli.js'
import {tempDir} from '../support/daemon.js'
import {PROJECT_ROOT} from '../support/spec.js'

const MARK = 'DESCRIPTION-READ-FROM-THE-MANIFEST'

function commandFiles(dir: string): string[] {
  return fs.readdirSync(dir, {recursive: true, encoding: 'utf8'}).filter((f) => f.endsWith('.js') && !f.endsWith('.d.js'))
}

describe('the oclif manifest', () => {
  let copy: string
  beforeAll(() => {
    assertBuilt()
    // A copy of the package whose manifest says something the sources do not.
    copy = tempDir('cycles-manifest-')
    for (const entry of ['package.json', 'tsconfig.json', 'bin', 'dist', 'commands', 'src']) fs.cpSync(path.join(PROJECT_ROOT, entry), path.join(copy, entry), {recursive: true})
    fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(copy, 'node_modules'))
    const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'oclif.manifest.json'), 'utf8'))
    manifest.commands['budget:list'].description = MARK
    fs.writeFileSync(path.join(copy, 'oclif.manifest.json'), JSON.stringify(manifest))
  })
  afterAll(() => {
    if (copy) fs.rmSync(copy, {recursive: true, force: true})
  })

  it('is written by the build, for the package version, with every built command', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'oclif.manifest.json'), 'utf8'))
    const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8'))
    expect(manifest.version).toBe(pkg.version)
    const ids = commandFiles(path.join(PROJECT_ROOT, 'dist', 'commands')).map((f) => f.replace(/\.js$/, '').split(path.sep).join(':'))
    expect(Object.keys(manifest.commands).sort()).toEqual(ids.sort())
    expect(manifest.commands['budget:list'].flags.tenant).toBeDefined()
  })

  it('the built entry reads it; the development entry reads the sources', () => {
    const run = (entry: string) => execFileSync(process.execPath, [path.join(copy, 'bin', entry), 'budget', 'list', '--help'], {cwd: copy, encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}, timeout: 60_000})
    expect(run('run.js')).toContain(MARK)
    const dev = run('dev.js')
    expect(dev).not.toContain(MARK)
    expect(dev).toContain('USAGE')
  }, 120_000)
})
