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
// Input: KEYS = every key the transactions touch (declared, deduplicated across the batch), then
// the read keys; ARGV[1] = JSON {c = condition lists, d = delta lists, p = plans} ('' when there are
// no transactions): small plans that refer to keys by their 1-based index into KEYS and to their
// condition and delta lists by index into c and d (transactions of one kind share them, so each
// distinct list is sent and decoded once); ARGV[2] = the invalidation channel, ARGV[3] = the
// API-key hash prefix, ARGV[4] = one kind letter per read key; the bulky strings (the
// reservations' hash fields, idempotency records) follow as ARGV[5..] and the plans refer to them by
// ARGV index, so they are neither JSON-escaped twice nor parsed by cjson. Check order per
// transaction matches the embedded store (memory-state.ts): conditions, idempotency, reservation
// status, ledger creation, then ledger deltas (missing / overflow). Nothing of a transaction is
// written until every one of its checks passed.
//
// Ledgers are read once per call (HMGET of the fields checks use) and kept in a table; a
// transaction's counter changes update that table, and the counters are written to Redis once, at
// the end of the call (or before anything reads a ledger hash directly: ledger creation, post-state).
// Redis runs the whole call before any other command, so nobody can observe the deferral. Each
// transaction runs under pcall: a Redis error inside one (say WRONGTYPE on a key) becomes that
// transaction's own error reply, and the counter changes of the transactions before it are still
// written at the end.
//
// Output: {results, values}. results: one entry per plan: {'ok'} — or, when the plan asks for it
// (plan.ret), {'ok', keyIndex, {hash fields...}, keyIndex, {...}, ...} with the post-state of every
// ledger touched — or {'fail', kind, detail}, or {'err', message}. values: one per read key.
//
// Numbers: Lua numbers are doubles, exact for every safe integer; a counter that leaves
// ±(2^53 - 1) fails the transaction with 'overflow' before anything is written.

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

export const APPLY_SCRIPT = String.raw`
local plans, CLISTS, DLISTS = {}, {}, {}
if ARGV[1] ~= '' then
  local batch = cjson.decode(ARGV[1])
  plans, CLISTS, DLISTS = batch.p, batch.c, batch.d
end
local INV, HP = ARGV[2], ARGV[3]
local MAX = 9007199254740991
local NULL = cjson.null

-- Integers only (every counter is checked to be a safe integer before it is written); '%d' is
-- exact for them and cheaper than '%.0f'.
local function fmt(n)
  if n == 0 then return '0' end
  return string.format('%d', n)
end

local function num(v)
  if v == nil or v == false then return 0 end
  return tonumber(v) or 0
end

-- Ledger state for the whole call, by key index: false = no such ledger; else a table with the
-- counters as numbers (a allocated, p spent, r reserved, d debt, m remaining or nil when the hash
-- has none) and the flags as stored strings (s status, o is_over_limit, l overdraft_limit).
local loaded = {}
local function load(k)
  local cached = loaded[k]
  if cached ~= nil then return cached end
  local v = redis.call('HMGET', KEYS[k], 'allocated', 'spent', 'reserved', 'debt', 'remaining', 'status', 'is_over_limit', 'overdraft_limit', 'scope')
  local h = false
  for i = 1, 9 do
    if v[i] then h = true break end
  end
  if h then
    h = {a = num(v[1]), p = num(v[2]), r = num(v[3]), d = num(v[4]), m = v[5] and num(v[5]) or nil, s = v[6], o = v[7], l = v[8]}
  end
  loaded[k] = h
  return h
end

-- Counter writes not yet sent to Redis: key index -> {changed counters, updated_at_ms}.
local dirty = {}
local dirtyOrder = {}
local COUNTERS = {'a', 'p', 'r', 'd'}
local NAMES = {a = 'allocated', p = 'spent', r = 'reserved', d = 'debt'}
local function flush()
  for _, k in ipairs(dirtyOrder) do
    local w = dirty[k]
    local h = loaded[k]
    local args = {'remaining', fmt(h.m), 'updated_at_ms', w.now}
    for _, c in ipairs(COUNTERS) do
      if w[c] then
        args[#args + 1] = NAMES[c]
        args[#args + 1] = fmt(h[c])
      end
    end
    redis.call('HSET', KEYS[k], unpack(args))
  end
  dirty = {}
  dirtyOrder = {}
end

local function bad(v) return v > MAX or v < -MAX or v ~= math.floor(v) end

local function run(plan)
  -- 1. Conditions, flat: keyIndex, field code, op ('=' eq, '>' gte, '<' lte), value; repeated.
  -- A missing ledger fails every condition.
  local c = plan.c and CLISTS[plan.c]
  if c then
    for j = 1, #c, 4 do
      local h = loaded[c[j]]
      if h == nil then h = load(c[j]) end
      local ok = false
      if h then
        local field = c[j + 1]
        local actual
        if field == 'm' then
          actual = h.m or (h.a - h.p - h.r - h.d)
        elseif field == 's' then
          actual = h.s or 'ACTIVE'
        elseif field == 'o' then
          actual = h.o == 'true'
        else
          actual = h[field]
          if type(actual) ~= 'number' then actual = num(actual) end
        end
        local op, want = c[j + 2], c[j + 3]
        if op == '=' then
          ok = actual == want
        elseif type(actual) == 'number' and type(want) == 'number' then
          if op == '>' then ok = actual >= want else ok = actual <= want end
        end
      end
      if not ok then return {'fail', 'condition', tostring((j + 3) / 4)} end
    end
  end

  -- 2. Idempotency: set-if-absent. Checked here in effect, but done with SET NX as the first write
  -- once every other check passed (one call instead of EXISTS + SET); a later check that fails asks
  -- EXISTS first so that the failure reported is the same as when it is checked in this place.
  local idem = plan.i
  local function failAfterIdem(kind, detail)
    if idem and redis.call('EXISTS', KEYS[idem.k]) == 1 then return {'fail', 'idempotency', ''} end
    return {'fail', kind, detail}
  end

  -- 3. Reservation status guard.
  if plan.r and plan.r.expect then
    local state = redis.call('HGET', KEYS[plan.r.k], 'state')
    if not state then state = 'absent' end
    if state ~= plan.r.expect then return failAfterIdem('reservation', state) end
  end

  -- 4. New ledgers must not exist yet.
  if plan.n then
    for i, n in ipairs(plan.n) do
      if redis.call('EXISTS', KEYS[n[1]]) == 1 then return failAfterIdem('exists', tostring(i)) end
    end
  end

  -- 5. Deltas, computed on working copies: missing ledger or overflow fails. Flat, nine per delta:
  -- keyIndex; add allocated, spent, reserved, debt (0 = none); set allocated, spent, debt (null =
  -- keep); index into plan.f of its flag writes (0 = none). Per delta: set, then flags, then add.
  local work = {}
  local order = {}
  local d = plan.d and DLISTS[plan.d]
  if d then
    for j = 1, #d, 9 do
      local k = d[j]
      local w = work[k]
      if w == nil then
        local h = load(k)
        if not h then return failAfterIdem('missing', tostring((j + 8) / 9)) end
        w = {a = h.a, p = h.p, r = h.r, d = h.d}
        work[k] = w
        order[#order + 1] = k
      end
      if d[j + 5] ~= NULL then w.a = d[j + 5]; w.ca = true end
      if d[j + 6] ~= NULL then w.p = d[j + 6]; w.cp = true end
      if d[j + 7] ~= NULL then w.d = d[j + 7]; w.cd = true end
      if d[j + 8] ~= 0 then
        local flags = w.flags or {}
        w.flags = flags
        for _, pair in ipairs(plan.f[d[j + 8]]) do flags[#flags + 1] = pair end
      end
      if d[j + 1] ~= 0 then w.a = w.a + d[j + 1]; w.ca = true end
      if d[j + 2] ~= 0 then w.p = w.p + d[j + 2]; w.cp = true end
      if d[j + 3] ~= 0 then w.r = w.r + d[j + 3]; w.cr = true end
      if d[j + 4] ~= 0 then w.d = w.d + d[j + 4]; w.cd = true end
      w.m = w.a - w.p - w.r - w.d
      if bad(w.a) or bad(w.p) or bad(w.r) or bad(w.d) or bad(w.m) then return failAfterIdem('overflow', tostring((j + 8) / 9)) end
    end
  end

  -- Every other check passed: the idempotency key is taken with SET NX (a key that exists fails the
  -- transaction, nothing written), then everything else is applied. Counter changes first (into the
  -- table; written at the end of the call), as the single-transaction script wrote ledgers first.
  if idem and not redis.call('SET', KEYS[idem.k], ARGV[idem.v], 'NX', 'PX', idem.ttl) then
    return {'fail', 'idempotency', ''}
  end
  local now = fmt(plan.now)
  for _, k in ipairs(order) do
    local w = work[k]
    local h = loaded[k]
    h.a, h.p, h.r, h.d, h.m = w.a, w.p, w.r, w.d, w.m
    local dk = dirty[k]
    if not dk then
      dk = {}
      dirty[k] = dk
      dirtyOrder[#dirtyOrder + 1] = k
    end
    dk.now = now
    if w.ca then dk.a = true end
    if w.cp then dk.p = true end
    if w.cr then dk.r = true end
    if w.cd then dk.d = true end
    if w.flags then
      local key = KEYS[k]
      for _, pair in ipairs(w.flags) do
        local f, v = pair[1], pair[2]
        if v == NULL then redis.call('HDEL', key, f); v = nil else redis.call('HSET', key, f, v) end
        if f == 'status' then h.s = v elseif f == 'is_over_limit' then h.o = v elseif f == 'overdraft_limit' then h.l = v end
      end
    end
  end

  if plan.n then
    flush()
    for _, n in ipairs(plan.n) do
      redis.call('HSET', KEYS[n[1]], unpack(n[2]))
      redis.call('SADD', KEYS[n[3]], n[4])
      loaded[n[1]] = nil
    end
  end

  local r = plan.r
  if r then
    local key = KEYS[r.k]
    -- r.f = {first, last}: the hash fields, flat, in ARGV[first..last].
    redis.call('HSET', key, unpack(ARGV, r.f[1], r.f[2]))
    if r.active then
      redis.call('ZADD', KEYS[r.ttl], r.deadline, r.id)
      if r.expect ~= 'absent' then redis.call('PERSIST', key) end
    else
      redis.call('ZREM', KEYS[r.ttl], r.id)
      redis.call('PEXPIRE', key, r.retain)
    end
    if r.idx then
      for _, ik in ipairs(r.idx) do redis.call('ZADD', KEYS[ik], 'NX', r.created, r.id) end
    end
  end

  if plan.t then
    for _, t in ipairs(plan.t) do
      redis.call('SET', KEYS[t[1]], t[2])
      redis.call('SADD', KEYS[t[3]], t[4])
      redis.call('PUBLISH', INV, 't:' .. t[4])
    end
  end

  if plan.a then
    for _, a in ipairs(plan.a) do
      local old = redis.call('GET', KEYS[a[1]])
      if old then
        local oldHash = cjson.decode(old).key_hash
        if oldHash and oldHash ~= a[5] then
          redis.call('DEL', HP .. oldHash)
          redis.call('PUBLISH', INV, 'k:' .. oldHash)
        end
      end
      redis.call('SET', KEYS[a[1]], a[2])
      redis.call('SET', KEYS[a[6]], a[4])
      redis.call('SADD', KEYS[a[3]], a[4])
      redis.call('PUBLISH', INV, 'k:' .. a[5])
    end
  end

  if plan.au then
    redis.call('RPUSH', KEYS[plan.au.k], unpack(plan.au.e))
    redis.call('LTRIM', KEYS[plan.au.k], -plan.au.max, -1)
  end

  if plan.ctl then
    redis.call('SET', KEYS[plan.ctl.k], plan.ctl.v)
    redis.call('PUBLISH', plan.ctl.ch, plan.ctl.v)
  end

  local out = {'ok'}
  if plan.ret then
    flush()
    local seen = {}
    local function post(k)
      if seen[k] then return end
      seen[k] = true
      out[#out + 1] = k
      out[#out + 1] = redis.call('HGETALL', KEYS[k])
    end
    if plan.n then for _, n in ipairs(plan.n) do post(n[1]) end end
    for _, k in ipairs(order) do post(k) end
  end
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

-- Reads, after every transaction: the last #ARGV[4] keys, one kind letter each: 'L' a ledger (the
-- fields in LEDGER_FIELDS, in that order, via HMGET), 'G' a string (GET), 'R' a reservation's
-- cycles_json. One entry per key, in order (a nested array for 'L', a string or nil otherwise).
local kinds = ARGV[4]
local first = #KEYS - #kinds
local values = {}
for i = 1, #kinds do
  local kind = string.byte(kinds, i)
  local key = KEYS[first + i]
  if kind == 76 then
    values[i] = redis.call('HMGET', key, ${LEDGER_FIELDS_LUA})
  elseif kind == 71 then
    values[i] = redis.call('GET', key)
  else
    values[i] = redis.call('HGET', key, 'cycles_json')
  end
end
return {results, values}
`

