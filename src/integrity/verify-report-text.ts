// The human form of a verify report (`cycles audit verify`, `shadow ingest --verify`).
import type {AuditChainReport} from './admin-audit-verify.js'
import type {ChainBreak, VerifyReport} from './verify-types.js'

const n = (x: number) => x.toLocaleString('en-US')

export function breakLine(b: ChainBreak): string {
  const where = b.line > 0 ? `${b.file} line ${b.line}` : b.file
  return `TAMPERED (${b.kind}) at ${where}${b.record_id ? ` (record ${b.record_id})` : ''}, instance ${b.instance}: ${b.message}`
}

export function verifyReportLines(report: VerifyReport): string[] {
  const out: string[] = []
  const files = report.chains.reduce((s, c) => s + c.files, 0)
  const speed = `${report.seconds.toFixed(2)} s${report.records_per_second ? `, ${n(report.records_per_second)} records/s` : ''}`
  out.push(
    report.intact
      ? `intact: ${n(report.records)} record(s) in ${n(files)} file(s), ${report.chains.length} chain(s), verified in ${speed}`
      : `NOT INTACT: checked ${n(report.records)} record(s) in ${speed} up to the first break`,
  )
  if (report.break) out.push(breakLine(report.break))
  for (const c of report.chains) {
    const last = c.last_checkpoint ? `last #${c.last_checkpoint.n} at ${c.last_checkpoint.ts} signs ${n(c.last_checkpoint.records)} record(s)` : 'none'
    out.push(`  instance ${c.instance}: ${n(c.records)} record(s) in ${c.files} file(s) (${c.first_file} … ${c.last_file})${c.starts_at_genesis ? '' : ', starting after deleted older segments'}`)
    out.push(`    checkpoints: ${c.checkpoints} (${last}); ${n(c.records_after_last_checkpoint)} record(s) written after the last one`)
    for (const t of c.torn_lines) out.push(`    torn line ${t.file}:${t.line} (${t.bytes} bytes, a write cut short by a crash; after the last checkpoint, never acknowledged): not tampering`)
  }
  if (report.unchained_files.length > 0) out.push(`  ${report.unchained_files.length} schema-v1 file(s) without a chain, not verifiable: ${report.unchained_files.slice(0, 3).join(', ')}${report.unchained_files.length > 3 ? ', …' : ''}`)
  if (report.keys_checked === 'recorded' && report.chains.length > 0) {
    const keys = [...new Set(report.chains.flatMap((c) => c.public_keys))]
    out.push(`  checkpoints checked against the key written in them (${keys.join(', ') || 'none'}); pass --public-key with the key \`cycles daemon status\` prints to prove who signed them`)
  }
  return out
}

export function auditChainLines(url: string, report: AuditChainReport): string[] {
  const signed = report.signed_head
  if (signed && !signed.ok) return [`TAMPERED (${signed.problem}) in the audit chain at ${url}: ${signed.message}`]
  if (report.intact) {
    const lines = [`intact: the audit chain at ${url}, ${n(report.rows)} row(s)${report.head_checked ? ', through the head the store holds' : ''}`]
    if (signed?.ok) {
      lines.push(`  signed head: seq ${signed.seq} at ${signed.ts} by ${signed.instance} (${signed.public_key}${signed.keys_pinned ? ', a pinned key' : '; pin it with --public-key'})${signed.row_retained ? '' : ' — its row is past retention, not compared'}`)
      if (signed.unsigned_rows > 0) lines.push(`  ${n(signed.unsigned_rows)} row(s) after it are not signed yet (signed every checkpoint interval and at shutdown)`)
    } else lines.push('  no signed head: the daemon signs it only with decision_log.chain on')
    return lines
  }
  const b = report.break!
  return [`TAMPERED (${b.problem}) in the audit chain at ${url}: row ${b.index + 1} (log_id ${b.log_id || '-'}): ${b.detail}`]
}
