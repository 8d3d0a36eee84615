// Shape checks for what recovery reads back from the journal and the snapshot. A line that parses
// but has the wrong shape must stop recovery with its file and line, not throw a TypeError from deep
// inside a replay (or, worse, be half-applied). Hand-written rather than a schema library: recovery
// may check millions of lines, and each check here is a few property reads.

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isStr = (v: unknown): v is string => typeof v === 'string'
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const BOOKS = new Set(['real', 'shadow'])
const LEDGER_NUMBERS = ['allocated', 'remaining', 'reserved', 'spent', 'debt', 'overdraft_limit'] as const
const TX_FIELDS = new Set(['deltas', 'createLedgers', 'reservation', 'idempotency', 'tenants', 'apiKeys', 'audit', 'control', 'overage', 'docs', 'docConditions'])

/** The first problem of a list, naming the element: `tx.deltas[3]: "scope" is not a string`. */
function eachProblem(value: unknown, where: string, check: (item: unknown) => string | undefined): string | undefined {
  if (!Array.isArray(value)) return `${where} is not a list`
  for (let i = 0; i < value.length; i++) {
    const problem = check(value[i])
    if (problem) return `${where}[${i}]: ${problem}`
  }
  return undefined
}

function ledgerRefProblem(l: unknown): string | undefined {
  if (!isObj(l)) return 'not an object'
  if (!BOOKS.has(l.book as string)) return '"book" is not real or shadow'
  if (!isStr(l.scope)) return '"scope" is not a string'
  if (!isStr(l.unit)) return '"unit" is not a string'
  return undefined
}

function overageProblem(o: unknown): string | undefined {
  if (!isObj(o)) return 'not an object'
  if (!BOOKS.has(o.book as string)) return '"book" is not real or shadow'
  if (!isStr(o.unit)) return '"unit" is not a string'
  if (!isNum(o.estimate) || !isNum(o.over)) return '"estimate" or "over" is not a number'
  if (o.expectExtra !== undefined && !isNum(o.expectExtra)) return '"expectExtra" is not a number'
  if (o.onLimit !== 'fail' && o.onLimit !== 'release') return '"onLimit" is not fail or release'
  return eachProblem(o.ledgers, 'ledgers', (l) => (isObj(l) && isStr(l.scope) && typeof l.debt === 'boolean' ? undefined : 'not {scope, debt}'))
}

function deltaProblem(d: unknown): string | undefined {
  const ref = ledgerRefProblem(d)
  if (ref) return ref
  const {add, set} = d as Obj
  if (add !== undefined && (!isObj(add) || !Object.values(add).every((v) => v === undefined || isNum(v)))) return '"add" is not an object of numbers'
  if (set !== undefined && !isObj(set)) return '"set" is not an object'
  return undefined
}

export function ledgerProblem(l: unknown): string | undefined {
  const ref = ledgerRefProblem(l)
  if (ref) return ref
  for (const field of LEDGER_NUMBERS) if (!isNum((l as Obj)[field])) return `"${field}" is not a number`
  return undefined
}

export function reservationProblem(r: unknown): string | undefined {
  if (!isObj(r)) return 'not an object'
  if (!isStr(r.reservation_id)) return '"reservation_id" is not a string'
  if (!isStr(r.status)) return '"status" is not a string'
  return undefined
}

export function idempotencyRecordProblem(r: unknown): string | undefined {
  if (!isObj(r)) return 'not an object'
  if (!isStr(r.hash)) return '"hash" is not a string'
  if (!isNum(r.status)) return '"status" is not a number'
  if (!isStr(r.body)) return '"body" is not a string'
  return undefined
}

const tenantProblem = (t: unknown) => (isObj(t) && isStr(t.tenant_id) ? undefined : 'not a tenant (no "tenant_id")')
const apiKeyProblem = (k: unknown) => (isObj(k) && isStr(k.key_id) && isStr(k.key_hash) ? undefined : 'not an API key (no "key_id" and "key_hash")')
const auditProblem = (a: unknown) => (isObj(a) ? undefined : 'not an object')

function controlProblem(c: unknown, where: string): string | undefined {
  if (!isObj(c) || !isObj(c.tiers) || !isObj(c.killswitch) || !isNum(c.version)) return `${where} is not a tier control record`
  return undefined
}

function reservationTxProblem(r: unknown): string | undefined {
  if (!isObj(r)) return 'tx.reservation is not an object'
  const problem = reservationProblem(r.value)
  return problem && `tx.reservation.value: ${problem}`
}

/** A doc write or doc condition names its collection and id. */
function docRefProblem(d: unknown): string | undefined {
  if (!isObj(d)) return 'not an object'
  if (!isStr(d.collection)) return '"collection" is not a string'
  if (!isStr(d.id)) return '"id" is not a string'
  return undefined
}

const isNumbers = (v: unknown) => isObj(v) && Object.values(v).every((n) => n === undefined || isNum(n))

/** What nextDoc() relies on: replaying a write of another shape would corrupt the doc silently (a string `add` adds its characters). */
function docWriteProblem(w: unknown): string | undefined {
  const ref = docRefProblem(w)
  if (ref) return ref
  const {set, add, delete: del, expectVersion, expires_at_ms: expires} = w as Obj
  if (set !== undefined && !isObj(set)) return '"set" is not an object'
  if (add !== undefined && !isNumbers(add)) return '"add" is not an object of numbers'
  if (del !== undefined && del !== true) return '"delete" is not true'
  if (expectVersion !== undefined && !Number.isSafeInteger(expectVersion)) return '"expectVersion" is not an integer'
  if (expires !== undefined && !isNum(expires)) return '"expires_at_ms" is not a number'
  return undefined
}

const DOC_OPS = new Set(['lt', 'lte', 'gte', 'eq'])

function docConditionProblem(c: unknown): string | undefined {
  const ref = docRefProblem(c)
  if (ref) return ref
  const {field, op, value} = c as Obj
  if (!isStr(field)) return '"field" is not a string'
  if (!DOC_OPS.has(op as string)) return '"op" is not lt, lte, gte or eq'
  if (!isNum(value)) return '"value" is not a number'
  return undefined
}

function storedDocProblem(d: unknown): string | undefined {
  const ref = docRefProblem(d)
  if (ref) return ref
  const {version, value, expires_at_ms: expires} = d as Obj
  if (!Number.isSafeInteger(version) || (version as number) < 1) return '"version" is not a positive integer'
  if (!isObj(value)) return '"value" is not an object'
  if (expires !== undefined && !isNum(expires)) return '"expires_at_ms" is not a number'
  return undefined
}

/** A journal line's entry: {t, tx, b?}. `b` (the stored response body) needs an idempotency record. */
export function journalEntryProblem(entry: unknown): string | undefined {
  if (!isObj(entry)) return 'not a JSON object'
  if (!Number.isSafeInteger(entry.t)) return '"t" is not a timestamp'
  const tx = entry.tx
  if (!isObj(tx)) return '"tx" is not an object'
  for (const key of Object.keys(tx)) if (!TX_FIELDS.has(key)) return `"tx" has an unknown field "${key}"`
  const problem =
    (tx.deltas !== undefined && eachProblem(tx.deltas, 'tx.deltas', deltaProblem)) ||
    (tx.createLedgers !== undefined && eachProblem(tx.createLedgers, 'tx.createLedgers', ledgerProblem)) ||
    (tx.reservation !== undefined && reservationTxProblem(tx.reservation)) ||
    (tx.idempotency !== undefined && idempotencyProblem(tx.idempotency)) ||
    (tx.tenants !== undefined && eachProblem(tx.tenants, 'tx.tenants', tenantProblem)) ||
    (tx.apiKeys !== undefined && eachProblem(tx.apiKeys, 'tx.apiKeys', apiKeyProblem)) ||
    (tx.audit !== undefined && eachProblem(tx.audit, 'tx.audit', auditProblem)) ||
    (tx.control !== undefined && controlProblem(tx.control, 'tx.control')) ||
    (tx.overage !== undefined && eachProblem(tx.overage, 'tx.overage', overageProblem)) ||
    (tx.docs !== undefined && eachProblem(tx.docs, 'tx.docs', docWriteProblem)) ||
    (tx.docConditions !== undefined && eachProblem(tx.docConditions, 'tx.docConditions', docConditionProblem))
  if (problem) return problem
  if (entry.b !== undefined && tx.idempotency === undefined) return '"b" (a stored response body) without tx.idempotency'
  return undefined
}

function idempotencyProblem(i: unknown): string | undefined {
  if (!isObj(i)) return 'tx.idempotency is not an object'
  if (!isStr(i.key)) return 'tx.idempotency: "key" is not a string'
  if (!isNum(i.ttl_ms)) return 'tx.idempotency: "ttl_ms" is not a number'
  const record = idempotencyRecordProblem(i.record)
  return record && `tx.idempotency.record: ${record}`
}

/** The snapshot's head: everything but reservations and idempotency records, and their counts. */
export function snapshotHeadProblem(head: unknown): string | undefined {
  if (!isObj(head)) return 'not a JSON object'
  for (const count of ['journal_through', 'reservations', 'idempotency']) {
    if (!Number.isSafeInteger(head[count])) return `"${count}" is not an integer`
  }
  return (
    eachProblem(head.ledgers, 'ledgers', ledgerProblem) ||
    eachProblem(head.tenants, 'tenants', tenantProblem) ||
    eachProblem(head.apiKeys, 'apiKeys', apiKeyProblem) ||
    (head.audit !== undefined && eachProblem(head.audit, 'audit', auditProblem)) ||
    (head.control !== undefined && controlProblem(head.control, 'control')) ||
    (head.docs !== undefined && eachProblem(head.docs, 'docs', storedDocProblem)) ||
    undefined
  )
}

/** A snapshot's idempotency entry: [key, record, expiresAtMs]. */
export function idempotencyEntryProblem(entry: unknown): string | undefined {
  if (!Array.isArray(entry) || entry.length !== 3) return 'not a [key, record, expiry] entry'
  if (!isStr(entry[0])) return 'the key is not a string'
  if (!isNum(entry[2])) return 'the expiry is not a number'
  const record = idempotencyRecordProblem(entry[1])
  return record && `the record: ${record}`
}
