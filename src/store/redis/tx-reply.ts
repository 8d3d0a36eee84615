// Decoding of APPLY_SCRIPT's reply for one transaction into its TxResult: failure details, overage
// results and the post-state of the ledgers it asked for.
import {ReplyError} from 'ioredis'

import type {Book, Ledger, Unit} from '../../protocol/types.js'
import type {OverageResult, Tx, TxFailure, TxResult} from '../types.js'
import {ledgerKey} from '../types.js'
import {valuesToLedger} from './codec.js'
import {toStoreError} from './connection.js'

/** One transaction's reply from APPLY_SCRIPT: 1 (done), ok with overage results and ledgers, a failure, an error. */
export type ApplyReply = 1 | ['ok', ...unknown[]] | ['fail', string, string] | ['err', string]

/** One transaction's reply from the group commit → its TxResult (and local cache effects). */
export function settleTx(
  tx: Tx,
  reply: ApplyReply,
  ledgerOf: Map<number, {book: Book; scope: string; unit: Unit}> | undefined,
  onApplied: (tx: Tx) => void,
): TxResult {
  if (reply !== 1) {
    if (reply[0] === 'fail') {
      const failed = reply[1] as TxFailure
      return {ok: false, failed, detail: failureDetail(tx, failed, String(reply[2]))}
    }
    if (reply[0] === 'err') throw toStoreError(new ReplyError(String(reply[1])))
  }
  onApplied(tx)
  const ledgers = new Map<string, Ledger>()
  if (reply === 1) return {ok: true, ledgers}
  const overage = tx.overage?.length ? overageResults(tx, reply[1] as number[]) : undefined
  if (!ledgerOf) return overage ? {ok: true, ledgers, overage} : {ok: true, ledgers}
  for (let i = 2; i + 1 < reply.length; i += 2) {
    const where = ledgerOf.get(Number(reply[i]))
    if (!where) continue
    const ledger = valuesToLedger(reply[i + 1], where.scope, where.unit)
    if (ledger) ledgers.set(ledgerKey(where.book, where.scope, where.unit), ledger)
  }
  return overage ? {ok: true, ledgers, overage} : {ok: true, ledgers}
}

function failureDetail(tx: Tx, failed: TxFailure, raw: string): string | undefined {
  const i = Number.parseInt(raw, 10) - 1
  switch (failed) {
    case 'condition': {
      if (raw.startsWith('d')) {
        const dc = tx.docConditions?.[Number.parseInt(raw.slice(1), 10) - 1]
        return dc ? `doc:${dc.collection}/${dc.id} ${dc.field} ${dc.op} ${dc.value}` : undefined
      }
      const c = tx.conditions?.[i]
      return c ? `${c.scope} ${c.unit} ${c.field} ${c.op} ${String(c.value)}` : undefined
    }
    case 'exists': {
      const l = tx.createLedgers?.[i]
      return l ? `${l.scope} ${l.unit}` : undefined
    }
    case 'missing': {
      const o = overageLedger(tx, raw)
      if (o) return `${o.book} ${o.scope} ${o.unit}`
      const d = tx.deltas?.[i]
      return d ? `${d.book} ${d.scope} ${d.unit}` : undefined
    }
    case 'overflow': {
      const d = overageLedger(tx, raw) ?? tx.deltas?.[i]
      return d ? `${d.scope} ${d.unit}` : undefined
    }
    case 'settlement':
      return raw
    case 'overdraft': {
      const [charge, at] = raw.split(':').map(Number)
      return tx.overage?.[charge - 1]?.ledgers[at - 1]?.scope
    }
    case 'reservation':
      return raw
    case 'doc': {
      const w = tx.docs?.[i]
      return w ? `${w.collection}/${w.id}` : undefined
    }
    default:
      return undefined
  }
}

/** The script's overage report (extra, 1-based position of the ledger over its limit or 0; per charge). */
function overageResults(tx: Tx, flat: number[]): OverageResult[] {
  return tx.overage!.map((o, i) => {
    const extra = Number(flat[2 * i])
    const at = Number(flat[2 * i + 1])
    return at > 0 ? {extra, limitScope: o.ledgers[at - 1].scope} : {extra}
  })
}

/** The overage ledger a failure detail 'o<charge>:<position>' names. */
function overageLedger(tx: Tx, raw: string): {book: Book; scope: string; unit: Unit} | undefined {
  const m = /^o(\d+):(\d+)$/.exec(raw)
  if (!m) return undefined
  const o = tx.overage?.[Number(m[1]) - 1]
  const l = o?.ledgers[Number(m[2]) - 1]
  return o && l ? {book: o.book, scope: l.scope, unit: o.unit} : undefined
}
