// The one generic transaction script behind RedisStore.apply(). Every mutation the daemon makes —
// reserve, commit, release, extend, expire, event, fund, seed, control — is a Tx decided by the
// TypeScript evaluator; this script checks every condition and guard the decision rested on and
// then applies every change, inside one EVALSHA, so Redis runs it as one atomic unit.
//
// Group commit: one call carries every transaction the daemon submitted in one turn of the event
// loop and runs them in order, each all-or-nothing on its own: transaction N's checks see the writes
// of transactions 1..N-1, and a transaction that fails a check writes nothing and does not affect
// the others. Each gets its own result.
//
// The same call also answers the batched reads of that turn (idempotency records, reservations,
// ledgers — across concurrent requests, each key once), after the transactions.
//
// Input: KEYS = every key the call touches or reads, each once (the transactions and the reads
// refer to them by 1-based index). ARGV[1] = JSON batch:
//   c  condition lists, d  delta lists, h  hash field name lists (transactions of one kind share
//      them, so each distinct list is sent and decoded once per call);
//   p  plans, one per transaction (layout below);
//   x  [ttl zset key index, retention of finished reservations in ms, length of the reservation key
//      prefix before the id] (when a plan writes a reservation);
//   inv, hp, ep  the invalidation channel, the API-key hash prefix and the auth epoch key index (when
//            a plan writes tenants or keys);
//   rk, rs   the read key indexes and one kind letter per read (when there are reads).
// Numbers the script only hands on to Redis (now as updated_at_ms, scores, TTLs) come as decimal
// strings: no number parsing in cjson, no formatting when passed to redis.call (which would also
// round beyond 14 digits).
// The bulky strings (the reservations' hash fields, idempotency records) follow as ARGV[2..] and the
// plans refer to them by ARGV index, so they are neither JSON-escaped twice nor parsed by cjson.
//
// A plan is a positional array: {now, condition list index or 0, delta list index or 0,
// reservation or 0, idempotency or 0, rare parts or 0, doc plan index (into batch.dp) or 0} with
//   reservation = {key, expected state or 0, field name list (h), ARGV index of the first value,
//                  active 1/0, expiry deadline, tenant index key or 0, all-tenants index key or 0,
//                  created_at, full write 1/0}
//   idempotency = {key, ARGV index of the record, ttl ms}
//   rare parts  = {f = flag writes, n = new ledgers, t = tenants, a = API keys, au / af = audit rows of writes / failures,
//                  ctl = control, ov = overage charges, ret = 1 to return the post-state of the
//                  touched ledgers}
//   batch.dp    = the call's distinct doc plans {loads, doc conditions or 0, doc writes or 0} (docs.ts DocPlan, doc-script.ts);
//                 batch.dx = {doc-expiry key index, doc key length before its member} when a plan writes docs.
// Check order per transaction matches the embedded store (memory-state.ts): conditions,
// idempotency, reservation status, ledger creation, doc conditions and versions, ledger deltas (missing / overflow), then overage
// charges (missing / settlement / overdraft / overflow). Nothing
// of a transaction is written until every one of its checks passed.
//
// Ledgers are read once per call (one HMGET of every field in LEDGER_FIELDS) and kept in a table;
// a transaction's counter changes update that table, and the counters are written to Redis once, at
// the end of the call (or before a ledger hash is written directly: ledger creation). A transaction's
// post-state (ret) is built from that table too (postState).
// A batched read of a ledger the call has loaded is answered from that table (the values HMGET
// would return after the call's writes). Redis runs the whole call before any other command, so
// nobody can observe the deferral. Each transaction runs under pcall: a Redis error inside one (say
// WRONGTYPE on a key) becomes that transaction's own error reply, and the counter changes of the
// transactions before it are still written at the end.
//
// Output: {results, values}. results: one entry per plan: 1 (applied) — or, when the plan has
// overage charges or asks for the post-state of the touched ledgers (ret), {'ok', {extra, limit
// position, ...per charge}, keyIndex, {LEDGER_FIELDS values, counters as integers}, keyIndex, {...}, ...} — or {'fail', kind,
// detail}, or {'err', message}. values: one per read: for 'L'
// the LEDGER_FIELDS values, for 'G' the string, for 'R' {cycles_json, cycles_update_json}, for 'H'
// the hash, flat (a doc).
//
// Numbers: Lua numbers are doubles, exact for every safe integer; a counter that leaves
// ±(2^53 - 1) fails the transaction with 'overflow' before anything is written.

import {DOC_LUA} from './doc-script.js'
import {RARE_WRITES_LUA} from './rare-writes-script.js'

/** The ledger fields a batched read returns (HMGET, in this order); codec.valuesToLedger reads them back. */
export const LEDGER_FIELDS = [
  'scope',
  'unit',
  'allocated',
  'remaining',
  'reserved',
  'spent',
  'debt',
  'overdraft_limit',
  'is_over_limit',
  'status',
  'caps_json',
  'commit_overage_policy',
  'created_at_ms',
  'updated_at_ms',
] as const
const LEDGER_FIELDS_LUA = LEDGER_FIELDS.map((f) => `'${f}'`).join(', ')

/** The reservation hash field holding what changed after creation (see codec.reservationToHash). */
export const RESERVATION_UPDATE_FIELD = 'cycles_update_json'

export const APPLY_SCRIPT = String.raw`
local call, tonumber, tostring, type, unpack, ipairs = redis.call, tonumber, tostring, type, unpack, ipairs
local batch = cjson.decode(ARGV[1])
local plans, CLISTS, DLISTS, HLISTS, X = batch.p or {}, batch.c, batch.d, batch.h, batch.x
local MAX = 9007199254740991
local NULL = cjson.null
local format, sub = string.format, string.sub

-- Integers only (every counter is checked to be a safe integer before it is written); '%d' is
-- exact for them and cheaper than '%.0f'.
local function fmt(n)
  if n == 0 then return '0' end
  return format('%d', n)
end

local function num(v)
  if v == nil or v == false then return 0 end
  return tonumber(v) or 0
end

-- Ledger state for the whole call, by key index: false = no such ledger (none of the fields a
-- transaction reads is present); else a table with the counters as numbers (a allocated, p spent,
-- r reserved, d debt, m remaining — computed when the hash has none), the flags as conditions see
-- them (s status, 'ACTIVE' when absent; o is_over_limit as a boolean; l overdraft_limit as a number)
-- and v, the LEDGER_FIELDS values as stored (kept current with every write, for the batched reads).
local loaded = {}
local function load(k)
  local v = call('HMGET', KEYS[k], ${LEDGER_FIELDS_LUA})
  local h = false
  if v[1] or v[3] or v[4] or v[5] or v[6] or v[7] or v[8] or v[9] or v[10] then
    local a, p, r, d = num(v[3]), num(v[6]), num(v[5]), num(v[7])
    h = {a = a, p = p, r = r, d = d, m = v[4] and num(v[4]) or (a - p - r - d), s = v[10] or 'ACTIVE', o = v[9] == 'true', l = num(v[8]), v = v}
  end
  loaded[k] = h
  return h
end

-- LEDGER_FIELDS positions of the flag fields a delta may write.
local FLAG_AT = {overdraft_limit = 8, is_over_limit = 9, status = 10, caps_json = 11, commit_overage_policy = 12}

-- Counter writes not yet sent to Redis: key index -> {updated_at_ms, whether allocated, spent,
-- reserved, debt changed}.
local dirty = {}
local dirtyOrder = {}
local function flush()
  for _, k in ipairs(dirtyOrder) do
    local w = dirty[k]
    local h = loaded[k]
    local v = h.v
    local m = fmt(h.m)
    v[4] = m
    v[14] = w[1]
    local args = {'remaining', m, 'updated_at_ms', w[1]}
    local n = 4
    if w[2] then v[3] = fmt(h.a); args[n + 1] = 'allocated'; args[n + 2] = v[3]; n = n + 2 end
    if w[3] then v[6] = fmt(h.p); args[n + 1] = 'spent'; args[n + 2] = v[6]; n = n + 2 end
    if w[4] then v[5] = fmt(h.r); args[n + 1] = 'reserved'; args[n + 2] = v[5]; n = n + 2 end
    if w[5] then v[7] = fmt(h.d); args[n + 1] = 'debt'; args[n + 2] = v[7]; n = n + 2 end
    call('HSET', KEYS[k], unpack(args))
  end
  dirty = {}
  dirtyOrder = {}
end

-- A ledger's LEDGER_FIELDS values as they are now, pending writes included, in a table of its own
-- (later transactions of the call change the working copy; the reply is sent at the end): the
-- counters as numbers (integer replies: no formatting here, no parsing in the client), the rest as
-- stored. false when there is no such ledger.
local function postState(k)
  local h = loaded[k]
  if h == nil then h = load(k) end
  if not h then return false end
  local v = h.v
  local w = dirty[k]
  return {v[1], v[2], h.a, h.m, h.r, h.p, h.d, v[8], v[9], v[10], v[11], v[12], v[13], w and w[1] or v[14]}
end

-- Reused for the reservation hash writes.
local HARGS = {}
${DOC_LUA}
${RARE_WRITES_LUA}

local idem
local function failAfterIdem(kind, detail)
  -- The idempotency key is taken with SET NX as the first write (one call instead of EXISTS + SET);
  -- a later check that fails asks EXISTS first so that the failure reported is the same as when it
  -- is checked in its place (after the conditions).
  if idem ~= 0 and call('EXISTS', KEYS[idem[1]]) == 1 then return {'fail', 'idempotency', ''} end
  return {'fail', kind, detail}
end

local function run(plan)
  local rare = plan[6]
  if rare == 0 then rare = nil end

  -- 1. Conditions, flat: keyIndex, field code (a p r d m s o l), op ('=' eq, '>' gte, '<' lte),
  -- value; repeated. A missing ledger fails every condition.
  if plan[2] ~= 0 then
    local c = CLISTS[plan[2]]
    local lastK, h = 0, false
    for j = 1, #c, 4 do
      local k = c[j]
      if k ~= lastK then
        h = loaded[k]
        if h == nil then h = load(k) end
        lastK = k
      end
      local ok = false
      if h then
        local actual, op, want = h[c[j + 1]], c[j + 2], c[j + 3]
        if op == '=' then
          ok = actual == want
        elseif type(want) == 'number' and type(actual) == 'number' then
          if op == '>' then ok = actual >= want else ok = actual <= want end
        end
      end
      if not ok then return {'fail', 'condition', tostring((j + 3) / 4)} end
    end
  end

  -- 2. Idempotency: set-if-absent, done as the first write (below).
  idem = plan[5]

  -- 3. Reservation status guard.
  local r = plan[4]
  if r ~= 0 and r[2] ~= 0 then
    local state = call('HGET', KEYS[r[1]], 'state') or 'absent'
    if state ~= r[2] then return failAfterIdem('reservation', state) end
  end

  -- 4. New ledgers must not exist yet.
  if rare and rare.n then
    for i, n in ipairs(rare.n) do
      if call('EXISTS', KEYS[n[1]]) == 1 then return failAfterIdem('exists', tostring(i)) end
    end
  end

  -- 4b. Docs (plan[7]: index into batch.dp, docs.ts): doc conditions, then expected versions.
  local dp = plan[7]
  if dp == 0 or dp == nil then dp = nil else dp = batch.dp[dp] end
  if dp then
    local kind, detail = docChecks(dp, tonumber(plan[1]))
    if kind then return failAfterIdem(kind, detail) end
  end

  -- 5. Deltas, computed on working copies: missing ledger or overflow fails. Flat, nine per delta:
  -- keyIndex; add allocated, spent, reserved, debt (0 = none); set allocated, spent, debt (null =
  -- keep); index into rare.f of its flag writes (0 = none). Per delta: set, then flags, then add.
  -- A working copy is positional: allocated, spent, reserved, debt, remaining, then whether each of
  -- the four changed, then its flag writes (false = none).
  local work, order
  if plan[3] ~= 0 then
    local d = DLISTS[plan[3]]
    work, order = {}, {}
    for j = 1, #d, 9 do
      local k = d[j]
      local w = work[k]
      if w == nil then
        local h = loaded[k]
        if h == nil then h = load(k) end
        if not h then return failAfterIdem('missing', tostring((j + 8) / 9)) end
        w = {h.a, h.p, h.r, h.d, 0, false, false, false, false, false}
        work[k] = w
        order[#order + 1] = k
      end
      local v = d[j + 5]
      if v ~= NULL then w[1] = v; w[6] = true end
      v = d[j + 6]
      if v ~= NULL then w[2] = v; w[7] = true end
      v = d[j + 7]
      if v ~= NULL then w[4] = v; w[9] = true end
      v = d[j + 8]
      if v ~= 0 then
        local flags = w[10] or {}
        w[10] = flags
        for _, pair in ipairs(rare.f[v]) do flags[#flags + 1] = pair end
      end
      v = d[j + 1]
      if v ~= 0 then w[1] = w[1] + v; w[6] = true end
      v = d[j + 2]
      if v ~= 0 then w[2] = w[2] + v; w[7] = true end
      v = d[j + 3]
      if v ~= 0 then w[3] = w[3] + v; w[8] = true end
      v = d[j + 4]
      if v ~= 0 then w[4] = w[4] + v; w[9] = true end
      local a, p, r, dd = w[1], w[2], w[3], w[4]
      local m = a - p - r - dd
      w[5] = m
      -- Each a safe integer (x % 1 ~= 0: not an integer, or NaN); inline, as this runs per delta.
      if a > MAX or a < -MAX or a % 1 ~= 0 or p > MAX or p < -MAX or p % 1 ~= 0 or r > MAX or r < -MAX or r % 1 ~= 0
        or dd > MAX or dd < -MAX or dd % 1 ~= 0 or m > MAX or m < -MAX or m % 1 ~= 0 then
        return failAfterIdem('overflow', tostring((j + 8) / 9))
      end
    end
  end

  -- 6. Overage charges (rare.ov, the rule of ledger-math.overageOutcome, on the working copies as
  -- the deltas left them), each {ledger key indexes, debt flags (1 = the shortfall becomes debt),
  -- estimate, over, expected extra or -1, 1 = over an overdraft limit fails the transaction (0 =
  -- only the hold is released)}. Reports {extra, 1-based position of the ledger over its limit or 0}.
  local settled
  if rare and rare.ov then
    work, order = work or {}, order or {}
    settled = {}
    for i, ov in ipairs(rare.ov) do
      local ks, debts, est, over, expect, strict = ov[1], ov[2], ov[3], ov[4], ov[5], ov[6]
      local ws, rem = {}, {}
      local extra = over
      for j, k in ipairs(ks) do
        local w = work[k]
        if w == nil then
          local h = loaded[k]
          if h == nil then h = load(k) end
          if not h then return failAfterIdem('missing', 'o' .. i .. ':' .. j) end
          w = {h.a, h.p, h.r, h.d, 0, false, false, false, false, false}
          work[k] = w
          order[#order + 1] = k
        end
        ws[j] = w
        local m = w[1] - w[2] - w[3] - w[4]
        rem[j] = m
        if debts[j] == 0 then
          local available = m > 0 and m or 0
          if available < extra then extra = available end
        end
      end
      if expect >= 0 and expect ~= extra then return failAfterIdem('settlement', fmt(extra)) end
      local limitAt = 0
      for j, k in ipairs(ks) do
        if debts[j] == 1 then
          local available = rem[j] > 0 and rem[j] or 0
          local covered = over < available and over or available
          if ws[j][4] + (over - covered) > loaded[k].l then limitAt = j; break end
        end
      end
      if limitAt > 0 and strict == 1 then return failAfterIdem('overdraft', tostring(i) .. ':' .. tostring(limitAt)) end
      for j, w in ipairs(ws) do
        w[3] = w[3] - est
        w[8] = true
        if limitAt == 0 then
          local available = rem[j] > 0 and rem[j] or 0
          if debts[j] == 1 then
            local covered = over < available and over or available
            w[2] = w[2] + est + covered
            w[4] = w[4] + over - covered
            w[7] = true
            w[9] = true
          else
            w[2] = w[2] + est + extra
            w[7] = true
            if available < over then
              local flags = w[10] or {}
              w[10] = flags
              flags[#flags + 1] = {'is_over_limit', 'true'}
            end
          end
        end
        local a, p, r, dd = w[1], w[2], w[3], w[4]
        local m = a - p - r - dd
        w[5] = m
        if a > MAX or a < -MAX or p > MAX or p < -MAX or r > MAX or r < -MAX or dd > MAX or dd < -MAX or m > MAX or m < -MAX then
          return failAfterIdem('overflow', 'o' .. i .. ':' .. j)
        end
      end
      settled[#settled + 1] = extra
      settled[#settled + 1] = limitAt
    end
  end

  -- Every other check passed: the idempotency key is taken with SET NX (a key that exists fails the
  -- transaction, nothing written), then everything else is applied. Counter changes first (into the
  -- table; written at the end of the call), as the single-transaction script wrote ledgers first.
  if idem ~= 0 and not call('SET', KEYS[idem[1]], ARGV[idem[2]], 'NX', 'PX', idem[3]) then
    return {'fail', 'idempotency', ''}
  end
  if order then
    local now = plan[1]
    for _, k in ipairs(order) do
      local w = work[k]
      local h = loaded[k]
      h.a, h.p, h.r, h.d, h.m = w[1], w[2], w[3], w[4], w[5]
      local dk = dirty[k]
      if not dk then
        dk = {now, false, false, false, false}
        dirty[k] = dk
        dirtyOrder[#dirtyOrder + 1] = k
      else
        dk[1] = now
      end
      if w[6] then dk[2] = true end
      if w[7] then dk[3] = true end
      if w[8] then dk[4] = true end
      if w[9] then dk[5] = true end
      if w[10] then
        local key = KEYS[k]
        for _, pair in ipairs(w[10]) do
          local f, v = pair[1], pair[2]
          if v == NULL then call('HDEL', key, f); v = false else call('HSET', key, f, v) end
          if f == 'status' then h.s = v or 'ACTIVE' elseif f == 'is_over_limit' then h.o = v == 'true' elseif f == 'overdraft_limit' then h.l = num(v) end
          local at = FLAG_AT[f]
          if at then h.v[at] = v end
        end
      end
    end
  end

  if rare and rare.n then
    flush()
    for _, n in ipairs(rare.n) do
      call('HSET', KEYS[n[1]], unpack(n[2]))
      call('SADD', KEYS[n[3]], n[4])
      loaded[n[1]] = nil
    end
  end

  if r ~= 0 then
    local key = KEYS[r[1]]
    local id = sub(key, X[3] + 1)
    -- The field names (a list of the call's, shared by transactions of one kind) with their values
    -- from ARGV[r[4]..].
    local names, first = HLISTS[r[3]], r[4] - 1
    local n = #names
    for i = 1, n do
      HARGS[2 * i - 1] = names[i]
      HARGS[2 * i] = ARGV[first + i]
    end
    call('HSET', key, unpack(HARGS, 1, 2 * n))
    -- A full write replaces the record: what a transition added after creation goes with it.
    if r[10] == 1 and r[2] ~= 'absent' then call('HDEL', key, '${RESERVATION_UPDATE_FIELD}') end
    if r[5] == 1 then
      call('ZADD', KEYS[X[1]], r[6], id)
      if r[2] ~= 'absent' then call('PERSIST', key) end
    else
      call('ZREM', KEYS[X[1]], id)
      call('PEXPIRE', key, X[2])
    end
    if r[7] ~= 0 then
      call('ZADD', KEYS[r[7]], 'NX', r[9], id)
      call('ZADD', KEYS[r[8]], 'NX', r[9], id)
    end
  end

  -- Doc writes, in order (after the ledgers', as in the embedded store).
  if dp and dp[3] ~= 0 then docWrites(dp[3], tonumber(plan[1]), batch.dx) end

  if not rare then return 1 end

  writeRareParts(rare)

  if not rare.ret then
    if settled then return {'ok', settled} end
    return 1
  end
  -- From the working copies: no flush of the call's pending writes, no read per ledger.
  local out = {'ok', settled or {}}
  local seen = {}
  -- ret as a list of key indexes: only those ledgers (one book's); the others are not encoded or sent.
  local only
  if type(rare.ret) == 'table' then
    only = {}
    for _, k in ipairs(rare.ret) do only[k] = true end
  end
  local function post(k)
    if seen[k] or (only and not only[k]) then return end
    seen[k] = true
    out[#out + 1] = k
    out[#out + 1] = postState(k)
  end
  if rare.n then for _, n in ipairs(rare.n) do post(n[1]) end end
  if order then for _, k in ipairs(order) do post(k) end end
  return out
end

local results = {}
for t = 1, #plans do
  local ok, res = pcall(run, plans[t])
  if ok then
    results[t] = res
  else
    if type(res) == 'table' then res = res.err or cjson.encode(res) end
    results[t] = {'err', tostring(res)}
  end
end
flush()
docFlush()

-- Reads, after every transaction: rk = key indexes, rs = one kind letter each: 'L' a ledger (the
-- fields in LEDGER_FIELDS, in that order: from the table when this call loaded it, else HMGET), 'G'
-- a string (GET), 'R' a reservation's cycles_json and cycles_update_json, 'H' a hash (HGETALL: a doc). One entry per read, in
-- order (a nested array for 'L' and 'R', a string or nil for 'G').
local values = {}
local rk, kinds = batch.rk, batch.rs
if rk then
  for i = 1, #rk do
    local k = rk[i]
    local kind = string.byte(kinds, i)
    if kind == 76 then
      local h = loaded[k]
      if h then values[i] = h.v else values[i] = call('HMGET', KEYS[k], ${LEDGER_FIELDS_LUA}) end
    elseif kind == 71 then
      values[i] = call('GET', KEYS[k])
    elseif kind == 72 then
      values[i] = call('HGETALL', KEYS[k])
    else
      values[i] = call('HMGET', KEYS[k], 'cycles_json', '${RESERVATION_UPDATE_FIELD}')
    end
  end
end
return {results, values}
`
