import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import type {DecisionRecord} from '../../src/decision-log/record.js'
import {DecisionLogWriter} from '../../src/decision-log/writer.js'
import {GroupCommitWriter} from '../../src/io/group-commit-writer.js'
import {tempDir} from '../support/daemon.js'

const record = (i: number): DecisionRecord => ({
  v: 1, id: `id-${i}`, ts: new Date(0).toISOString(), endpoint: 'decide', request_id: `r${i}`, trace_id: 't'.repeat(32),
  tenant: 'a', dry_run: false, mode: 'shadow', tier: 'low', decision: 'ALLOW', would_decision: 'ALLOW', http_status: 200, latency_us: 1,
})

describe('decision log writer', () => {
  it('writes batches before flushed() resolves and rotates by hour and by size', async () => {
    const dir = tempDir()
    let now = Date.parse('2026-11-21T10:59:59.000Z')
    const writer = new DecisionLogWriter({dir, maxSegmentBytes: 2000, fsyncIntervalMs: 0, now: () => now, instanceId: 'abc123'})
    for (let i = 0; i < 3; i++) writer.write(record(i))
    await writer.flushed()
    const first = path.join(dir, 'decisions-2026112110-abc123-0001.jsonl')
    expect(fs.readFileSync(first, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id)).toEqual(['id-0', 'id-1', 'id-2'])

    now = Date.parse('2026-11-21T11:00:00.000Z') // next hour: new segment
    writer.write(record(3))
    await writer.flushed()
    expect(fs.existsSync(path.join(dir, 'decisions-2026112111-abc123-0002.jsonl'))).toBe(true)

    // ~250 bytes each: the batch would take segment 2 past 2,000 bytes, so it opens segment 3 (a batch
    // is never split); the next write finds segment 3 over the limit and opens segment 4.
    for (let i = 4; i < 40; i++) writer.write(record(i))
    await writer.flushed()
    writer.write(record(40))
    await writer.flushed()
    writer.close()
    const files = fs.readdirSync(dir).sort()
    expect(files).toEqual([
      'decisions-2026112110-abc123-0001.jsonl',
      'decisions-2026112111-abc123-0002.jsonl',
      'decisions-2026112111-abc123-0003.jsonl',
      'decisions-2026112111-abc123-0004.jsonl',
    ])
    expect(fs.readFileSync(path.join(dir, files[3]), 'utf8').trim().split('\n')).toHaveLength(1)
    const ids = files.flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l).id))
    expect(ids).toEqual(Array.from({length: 41}, (_, i) => `id-${i}`))
  })

  it('writes multi-byte text exactly, also in a batch larger than its buffer', async () => {
    const dir = tempDir()
    const file = path.join(dir, 'lines.jsonl')
    const writer = new GroupCommitWriter({segments: {nextPath: () => file}, fsyncIntervalMs: 0})
    const lines = Array.from({length: 3000}, (_, i) => `{"i":${i},"t":"é 😀 \u2028 ${'x'.repeat(i % 400)}"}`)
    lines.push('😀'.repeat(200_000)) // one line alone bigger than the 256 KiB starting buffer
    for (const line of lines) writer.append(line)
    await writer.flushed()
    writer.append('{"after":true}')
    writer.append(['{"parts":', '"é😀"', ',"n":', '1}'])
    await writer.flushed()
    writer.close()
    expect(fs.readFileSync(file, 'utf8')).toBe(lines.join('\n') + '\n{"after":true}\n{"parts":"é😀","n":1}\n')
    expect(writer.linesWritten).toBe(3003)
  })
})
