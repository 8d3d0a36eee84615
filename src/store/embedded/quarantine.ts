// `cycles daemon start --recover`: damaged lines are set aside in a quarantine directory inside the
// state directory, with what each one held as far as it can still be read, so the operator knows
// exactly which reservations, ledgers, idempotency keys, tenants and keys to check.
//   quarantine-20261127T220102Z/
//     damaged-lines.jsonl   one line per damaged line: file, line, problem, bytes, the raw bytes (base64)
//     report.json           the recovery report (as returned and printed)
//     journal-00000003.jsonl, snapshot.jsonl   the damaged files as they were (hard links: no copy)
import fs from 'node:fs'
import path from 'node:path'

import type {Book, Unit} from '../../protocol/types.js'
import type {MemoryState} from '../memory-state.js'
import type {Damage, DamagedRecord} from './state-damage.js'
import {DIR_MODE, FILE_MODE, syncDir} from './state-files.js'

/** What a damaged line held, read from its JSON when it still parses, else from the fragments left. */
export interface Salvaged {
  /** True when the line still parses as JSON (only its checksum or shape was wrong): the lists are complete. */
  exact: boolean
  at?: string
  reservation_ids: string[]
  idempotency_keys: string[]
  /** `book scope unit` */
  ledgers: string[]
  tenants: string[]
  api_keys: string[]
}

export interface QuarantinedLine {
  file: string
  line: number
  problem: string
  held: DamagedRecord
  bytes: number
  salvaged?: Salvaged
  missing?: {reservations: number; idempotency: number}
}

export interface LedgerNow {
  book: Book
  scope: string
  unit: Unit
  /** The ledger after recovery (absent: it does not exist, e.g. its creation was lost). */
  now?: {allocated: number; remaining: number; reserved: number; spent: number; debt: number}
}

export interface QuarantineReport {
  dir: string
  lines: QuarantinedLine[]
  lost: {
    /** Journal transactions not applied. */
    transactions: number
    /** Snapshot records (reservations, idempotency records) not loaded, including missing lines. */
    snapshot_records: number
    reservation_ids: string[]
    idempotency_keys: string[]
    tenants: string[]
    api_keys: string[]
    ledgers: LedgerNow[]
    /** Damaged lines from which no identifier could be read, and snapshot records whose lines are missing. */
    unidentified: number
  }
}

/**
 * Set the damaged lines aside (the state has been recovered without them) and describe what was lost.
 * Called before the fresh snapshot replaces the damaged files, which stay in the quarantine directory.
 */
export function quarantine(stateDir: string, damage: readonly Damage[], state: MemoryState, nowMs: number): QuarantineReport {
  const dir = freshQuarantineDir(stateDir, nowMs)
  const lines: QuarantinedLine[] = damage.map((d) => ({
    file: path.basename(d.file),
    line: d.line,
    problem: d.problem,
    held: d.held,
    bytes: d.raw?.length ?? 0,
    ...(d.raw ? {salvaged: salvage(d.raw, d.held)} : {}),
    ...(d.missing ? {missing: d.missing} : {}),
  }))
  const report: QuarantineReport = {dir, lines, lost: summarize(lines, state)}

  writePrivate(
    path.join(dir, 'damaged-lines.jsonl'),
    damage.map((d, i) => JSON.stringify({...lines[i], raw_base64: d.raw?.toString('base64') ?? ''}) + '\n').join(''),
  )
  writePrivate(path.join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n')
  for (const file of new Set(damage.map((d) => d.file))) keepCopy(file, path.join(dir, path.basename(file)))
  syncDir(dir)
  syncDir(stateDir)
  return report
}

function freshQuarantineDir(stateDir: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  for (let n = 1; ; n++) {
    const dir = path.join(stateDir, `quarantine-${stamp}${n > 1 ? `-${n}` : ''}`)
    try {
      fs.mkdirSync(dir, {mode: DIR_MODE})
      return dir
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
}

function writePrivate(file: string, text: string): void {
  const fd = fs.openSync(file, 'wx', FILE_MODE)
  try {
    fs.writeFileSync(fd, text)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** A hard link costs nothing and keeps the bytes once the original is replaced; else a copy. */
function keepCopy(from: string, to: string): void {
  try {
    fs.linkSync(from, to)
  } catch {
    fs.copyFileSync(from, to)
    fs.chmodSync(to, FILE_MODE)
  }
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

export function salvage(raw: Buffer, held: DamagedRecord): Salvaged {
  const text = raw.toString('utf8')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return fromFragments(text)
  }
  const out: Salvaged = {exact: true, reservation_ids: [], idempotency_keys: [], ledgers: [], tenants: [], api_keys: []}
  const add = (list: string[], v: unknown) => {
    const s = str(v)
    if (s !== undefined && !list.includes(s)) list.push(s)
  }
  if (held === 'reservation' && isObj(value)) add(out.reservation_ids, (isObj(value.r) ? value.r : value).reservation_id)
  else if (held === 'idempotency record') {
    const entry = isObj(value) ? value.i : value
    if (Array.isArray(entry)) {
      add(out.idempotency_keys, entry[0])
      if (isObj(entry[1])) add(out.reservation_ids, entry[1].reservation_id)
    }
  } else if (isObj(value) && isObj(value.tx)) {
    const tx = value.tx
    if (typeof value.t === 'number') out.at = new Date(value.t).toISOString()
    if (isObj(tx.reservation) && isObj(tx.reservation.value)) add(out.reservation_ids, tx.reservation.value.reservation_id)
    if (isObj(tx.idempotency)) {
      add(out.idempotency_keys, tx.idempotency.key)
      if (isObj(tx.idempotency.record)) add(out.reservation_ids, tx.idempotency.record.reservation_id)
    }
    for (const list of [tx.deltas, tx.createLedgers]) {
      if (!Array.isArray(list)) continue
      for (const l of list) if (isObj(l)) add(out.ledgers, `${str(l.book) ?? '?'} ${str(l.scope) ?? '?'} ${str(l.unit) ?? '?'}`)
    }
    if (Array.isArray(tx.tenants)) for (const t of tx.tenants) if (isObj(t)) add(out.tenants, t.tenant_id)
    if (Array.isArray(tx.apiKeys)) for (const k of tx.apiKeys) if (isObj(k)) add(out.api_keys, k.key_id)
  } else return fromFragments(text)
  return out
}

/** Identifiers still legible in a line that no longer parses (the damaged part may have held more). */
function fromFragments(text: string): Salvaged {
  const all = (re: RegExp, group = 1) => [...new Set([...text.matchAll(re)].map((m) => m[group]))]
  const t = /"t":(\d{13})/.exec(text)
  const ledgers = [...text.matchAll(/"book":"(real|shadow)","scope":"((?:[^"\\]|\\.)*)","unit":"([A-Z_]+)"/g)].map((m) => `${m[1]} ${m[2]} ${m[3]}`)
  return {
    exact: false,
    ...(t ? {at: new Date(Number(t[1])).toISOString()} : {}),
    reservation_ids: all(/"reservation_id":"((?:[^"\\]|\\.)*)"/g),
    idempotency_keys: all(/"idempotency":\{"key":"((?:[^"\\]|\\.)*)"/g).concat(all(/^\{"c":"[0-9a-f]{8}","i":\["((?:[^"\\]|\\.)*)"/g)),
    ledgers: [...new Set(ledgers)],
    tenants: all(/"tenant_id":"((?:[^"\\]|\\.)*)"/g),
    api_keys: all(/"key_id":"((?:[^"\\]|\\.)*)"/g),
  }
}

function summarize(lines: readonly QuarantinedLine[], state: MemoryState): QuarantineReport['lost'] {
  const union = (pick: (s: Salvaged) => string[]) => [...new Set(lines.flatMap((l) => (l.salvaged ? pick(l.salvaged) : [])))]
  const ledgers = union((s) => s.ledgers).map((key): LedgerNow => {
    // `book scope unit`: book and unit have no spaces, a scope might
    const words = key.split(' ')
    const book = words[0] as Book
    const unit = words.at(-1) as Unit
    const scope = words.slice(1, -1).join(' ')
    const l = book === 'real' || book === 'shadow' ? state.getLedger(book, scope, unit) : undefined
    return {book, scope, unit, ...(l ? {now: {allocated: l.allocated, remaining: l.remaining, reserved: l.reserved, spent: l.spent, debt: l.debt}} : {})}
  })
  const identified = (s: Salvaged) => s.reservation_ids.length + s.idempotency_keys.length + s.ledgers.length + s.tenants.length + s.api_keys.length > 0
  return {
    transactions: lines.filter((l) => l.held === 'transaction').length,
    snapshot_records: lines.reduce((n, l) => n + (l.held === 'reservation' || l.held === 'idempotency record' ? 1 : 0) + (l.missing ? l.missing.reservations + l.missing.idempotency : 0), 0),
    reservation_ids: union((s) => s.reservation_ids),
    idempotency_keys: union((s) => s.idempotency_keys),
    tenants: union((s) => s.tenants),
    api_keys: union((s) => s.api_keys),
    ledgers,
    unidentified: lines.reduce(
      (n, l) => n + (l.salvaged && !identified(l.salvaged) && l.held !== 'snapshot end' ? 1 : 0) + (l.missing ? l.missing.reservations + l.missing.idempotency : 0),
      0,
    ),
  }
}

/** The report as lines of text for the operator. */
export function describeQuarantine(report: QuarantineReport): string[] {
  const {lost} = report
  const out = [`recovery: ${report.lines.length} damaged line(s) set aside in ${report.dir} (the damaged files are kept there too)`]
  for (const l of report.lines) {
    const what = l.salvaged ? ` — held ${describeSalvage(l.salvaged)}` : ''
    out.push(`  ${l.file} line ${l.line} (${l.held}): ${l.problem}${what}`)
  }
  out.push(`lost: ${lost.transactions} journal transaction(s), ${lost.snapshot_records} snapshot record(s)${lost.unidentified ? `, ${lost.unidentified} of them unidentifiable` : ''}`)
  if (lost.reservation_ids.length) out.push(`  reservations: ${lost.reservation_ids.join(', ')}`)
  if (lost.idempotency_keys.length) out.push(`  idempotency keys: ${lost.idempotency_keys.join(', ')}`)
  if (lost.tenants.length) out.push(`  tenants: ${lost.tenants.join(', ')}`)
  if (lost.api_keys.length) out.push(`  API keys: ${lost.api_keys.join(', ')}`)
  for (const l of lost.ledgers) {
    const now = l.now ? `now allocated ${l.now.allocated}, reserved ${l.now.reserved}, spent ${l.now.spent}, debt ${l.now.debt}, remaining ${l.now.remaining}` : 'does not exist now'
    out.push(`  ledger ${l.book} ${l.scope} ${l.unit}: ${now}`)
  }
  if (report.lines.length) out.push('check these ledgers and reservations (cycles budget show, cycles reservation show) and correct them if needed')
  return out
}

function describeSalvage(s: Salvaged): string {
  const parts = [
    s.at && `t=${s.at}`,
    s.reservation_ids.length && `reservation ${s.reservation_ids.join(', ')}`,
    s.idempotency_keys.length && `idempotency key ${s.idempotency_keys.join(', ')}`,
    s.ledgers.length && `ledgers ${s.ledgers.join('; ')}`,
    s.tenants.length && `tenants ${s.tenants.join(', ')}`,
    s.api_keys.length && `API keys ${s.api_keys.join(', ')}`,
  ].filter(Boolean)
  if (parts.length === 0) return 'nothing legible'
  return `${parts.join(', ')}${s.exact ? '' : ' (read from the damaged bytes: it may have held more)'}`
}
