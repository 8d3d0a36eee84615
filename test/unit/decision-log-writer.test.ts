import fs from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import type {DecisionRecord} from '../../src/decision-log/record.js'
import {RetentionSyntaxError, parseRetention} from '../../src/decision-log/retention.js'
import {DecisionLogWriter} from '../../src/decision-log/writer.js'
import {GroupCommitWriter, WriteFailedError} from '../../src/io/group-commit-writer.js'
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

describe('group-commit writer on a full disk (writes to /dev/full fail with ENOSPC)', () => {
  it('keep mode: the failed batch rejects, nothing is acknowledged, and the held lines are written in order once space returns', async () => {
    const dir = tempDir()
    const [first, second] = [path.join(dir, 'a.jsonl'), path.join(dir, 'b.jsonl')]
    const paths = [first, second]
    let rotate = false
    const writer = new GroupCommitWriter({segments: {nextPath: () => paths.shift()!, shouldRotate: () => rotate}, fsyncIntervalMs: 0, retryIntervalMs: 0})
    writer.append('{"n":1}')
    await writer.flushed()
    // The next segment is on a full disk.
    fs.symlinkSync('/dev/full', second)
    rotate = true
    writer.append('{"n":2}')
    const failed = await writer.flushed().then(() => undefined, (error: unknown) => error)
    rotate = false
    expect(failed).toBeInstanceOf(WriteFailedError)
    expect(failed).toMatchObject({code: 'DISK_FULL', failure: {errno: 'ENOSPC', path: second}})
    expect(writer.failure?.code).toBe('DISK_FULL')
    writer.append('{"n":3}')
    await expect(writer.flushed()).rejects.toBeInstanceOf(WriteFailedError)
    // Nothing new appended: still not durable while lines are held.
    await expect(writer.flushed()).rejects.toBeInstanceOf(WriteFailedError)
    expect(writer.backlogBytes).toBe(16)
    expect(writer.retry()).toBe(false)

    fs.unlinkSync(second) // space returns: the same segment is created anew
    expect(writer.retry()).toBe(true)
    expect(writer.failure).toBeUndefined()
    await expect(writer.flushed()).resolves.toBeUndefined()
    writer.close()
    expect(fs.readFileSync(first, 'utf8')).toBe('{"n":1}\n')
    expect(fs.readFileSync(second, 'utf8')).toBe('{"n":2}\n{"n":3}\n')
    expect(writer.linesWritten).toBe(3)
    expect(writer.linesDropped).toBe(0)
  })

  it('keep mode: lines beyond the backlog bound are dropped and counted', async () => {
    const dir = tempDir()
    const file = path.join(dir, 'j.jsonl')
    fs.symlinkSync('/dev/full', file)
    const writer = new GroupCommitWriter({segments: {nextPath: () => file}, fsyncIntervalMs: 0, retryIntervalMs: 0, maxBacklogBytes: 20})
    for (const n of [1, 2, 3]) {
      writer.append(`{"n":${n}}`) // 8 bytes each with the newline
      await writer.flushed().catch(() => {})
    }
    expect(writer.backlogBytes).toBe(16)
    expect(writer.linesDropped).toBe(1)
    fs.unlinkSync(file)
    expect(writer.retry()).toBe(true)
    writer.close()
    expect(fs.readFileSync(file, 'utf8')).toBe('{"n":1}\n{"n":2}\n')
  })

  it('drop mode: callers go on, lines are counted as dropped, recovery reports how many', async () => {
    const dir = tempDir()
    const file = path.join(dir, 'log.jsonl')
    fs.symlinkSync('/dev/full', file)
    let now = 1_000_000
    const recoveries: Array<{droppedLines: number; sinceMs: number; recoveredAtMs: number}> = []
    const writer = new GroupCommitWriter({
      segments: {nextPath: () => file}, fsyncIntervalMs: 0, now: () => now, whenUnwritable: 'drop', retryIntervalMs: 1000,
      onRecovery: (r) => recoveries.push({droppedLines: r.droppedLines, sinceMs: r.failure.sinceMs, recoveredAtMs: r.recoveredAtMs}),
    })
    for (let i = 0; i < 4; i++) {
      writer.append(`{"i":${i}}`)
      await expect(writer.flushed()).resolves.toBeUndefined()
    }
    expect(writer.linesDropped).toBe(4)
    expect(writer.failure).toMatchObject({code: 'DISK_FULL', errno: 'ENOSPC', sinceMs: 1_000_000})
    fs.unlinkSync(file)
    writer.append('{"i":4}') // before the retry interval: not even tried
    await writer.flushed()
    expect(writer.linesDropped).toBe(5)
    now += 1000
    writer.append('{"i":5}')
    await writer.flushed()
    writer.close()
    expect(recoveries).toEqual([{droppedLines: 5, sinceMs: 1_000_000, recoveredAtMs: 1_001_000}])
    expect(fs.readFileSync(file, 'utf8')).toBe('{"i":5}\n')
  })

  it('a write cut short leaves no half line: the file is truncated back to its last whole line', async () => {
    const dir = tempDir()
    const file = path.join(dir, 'cut.jsonl')
    const writer = new GroupCommitWriter({segments: {nextPath: () => file}, fsyncIntervalMs: 0, whenUnwritable: 'drop'})
    writer.append('{"whole":1}')
    await writer.flushed()
    // The first write(2) of the next batch goes through partly, the second fails: a disk filling up mid-batch.
    const realWrite = fs.writeSync
    let calls = 0
    const writeSync = ((fd: number, data: Buffer) => {
      calls++
      if (calls === 1) return realWrite(fd, data.subarray(0, 5))
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), {code: 'ENOSPC'})
    }) as typeof fs.writeSync
    ;(fs as {writeSync: typeof fs.writeSync}).writeSync = writeSync
    try {
      writer.append('{"cut":2}')
      await writer.flushed()
    } finally {
      ;(fs as {writeSync: typeof fs.writeSync}).writeSync = realWrite
    }
    expect(calls).toBe(2)
    expect(fs.readFileSync(file, 'utf8')).toBe('{"whole":1}\n')
    expect(writer.linesDropped).toBe(1)
    writer.close()
  })
})

describe('decision log retention and permissions', () => {
  const hour = (iso: string) => Date.parse(iso)

  it('deletes closed segments by age and by total size, oldest first, never an open one', () => {
    const dir = tempDir()
    const now = hour('2026-11-27T12:10:00.000Z')
    const seg = (name: string, bytes: number, mtimeIso: string) => {
      fs.writeFileSync(path.join(dir, name), 'x'.repeat(bytes))
      fs.utimesSync(path.join(dir, name), new Date(mtimeIso), new Date(mtimeIso))
    }
    seg('decisions-2026112009-abc123-0001.jsonl', 100, '2026-11-20T09:59:00Z') // 7 days old: too old
    seg('decisions-2026112610-abc123-0002.jsonl', 100, '2026-11-26T10:59:00Z')
    seg('decisions-2026112611-fff999-0001.jsonl', 100, '2026-11-26T11:59:00Z') // another instance, past hour: closed
    seg('decisions-2026112711-abc123-0003.jsonl', 100, '2026-11-27T11:59:00Z')
    seg('decisions-2026112712-fff999-0002.jsonl', 100, '2026-11-20T00:00:00Z') // another instance, this hour: may be open
    seg('notes.txt', 1000, '2026-11-01T00:00:00Z') // not a segment: never touched
    // Room for the current segment (one record), the open one of the other instance and one more.
    const currentBytes = Buffer.byteLength(JSON.stringify(record(1))) + 1
    const maxTotalBytes = currentBytes + 100 + 100 + 50
    const writer = new DecisionLogWriter({dir, fsyncIntervalMs: 0, now: () => now, instanceId: 'abc123', retention: {maxAgeMs: 3 * 86_400_000, maxTotalBytes}, retentionIntervalMs: 0})
    writer.write(record(1))
    writer.close()
    const current = path.basename(writer.currentPath)
    // numbered after the instance's last segment (0003), so an instance's segments sort in write order
    expect(current).toBe('decisions-2026112712-abc123-0004.jsonl')
    const result = writer.applyRetention(now)
    expect(result.deleted.map((f) => path.basename(f))).toEqual([
      'decisions-2026112009-abc123-0001.jsonl', // age
      'decisions-2026112610-abc123-0002.jsonl', // size, oldest closed first
      'decisions-2026112611-fff999-0001.jsonl',
    ])
    expect(fs.readdirSync(dir).sort()).toEqual([
      'decisions-2026112711-abc123-0003.jsonl',
      'decisions-2026112712-abc123-0004.jsonl',
      'decisions-2026112712-fff999-0002.jsonl',
      'notes.txt',
    ])
    expect(result.keptBytes).toBe(currentBytes + 200)
    expect(writer.health().files_deleted).toBe(3)
  })

  it('parses --log-retention and rejects what it cannot read', () => {
    expect(parseRetention('7d')).toEqual({maxAgeMs: 7 * 86_400_000})
    expect(parseRetention('10GiB')).toEqual({maxTotalBytes: 10 * 1024 ** 3})
    expect(parseRetention('500MB, 12h')).toEqual({maxTotalBytes: 500e6, maxAgeMs: 12 * 3_600_000})
    expect(parseRetention('30m')).toEqual({maxAgeMs: 30 * 60_000})
    for (const bad of ['', '7', '7x', '7d,8d', '0d', '1GB,2GB', '7d,1GB,2h']) {
      expect(() => parseRetention(bad)).toThrow(RetentionSyntaxError)
    }
  })

  it('creates the log directory 0700 and its segments 0600', async () => {
    const dir = path.join(tempDir(), 'nested', 'decisions')
    // A permissive umask proves the modes are set explicitly. Worker threads (the mutation run) may
    // not set it; they run with the process's own.
    let old: number | undefined
    try {
      old = process.umask(0o022)
    } catch {
      old = undefined
    }
    try {
      const writer = new DecisionLogWriter({dir, fsyncIntervalMs: 0, instanceId: 'abc123'})
      writer.write(record(1))
      await writer.flushed()
      writer.close()
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
      expect(fs.statSync(writer.currentPath).mode & 0o777).toBe(0o600)
    } finally {
      if (old !== undefined) process.umask(old)
    }
  })
})
