// The doc-collection part of APPLY_SCRIPT (spliced into it) and the expiry sweep. Layout and plan:
// docs.ts. Rules: doc-collections.ts (a doc whose expires_at_ms is not after the transaction's `now`
// is absent; a missing doc or field counts 0 in a condition; a write bumps the version).
//
// Cost per doc of a call (a group commit of many transactions): one HMGET when the first transaction
// touching it is checked (version, expiry and the fields its conditions and adds read) and one HSET
// at the end of the call, plus a ZADD to the index on creation and a PEXPIREAT + ZADD when the expiry
// changes. No JSON in Lua.

/** Lua: DOCS (per-call doc state), docChecks(dp, now) -> failure kind, detail (or nil), docWrites(writes, now, dx), docFlush(). */
export const DOC_LUA = String.raw`
-- Doc state for the whole call, by doc key index: v version (0 = no hash), x expires_at_ms or
-- false, f the field texts read so far (false = no such field), full = f holds every field.
local DOCS = {}

local function docLive(d, now)
  return d.v > 0 and (not d.x or d.x > now)
end

-- A JSON number's text; integers as integers (exact), others with 17 digits (JSON.parse gives the same double).
local function numText(n)
  if n ~= n or n == math.huge or n == -math.huge then return 'null' end
  if n % 1 == 0 and n > -1e15 and n < 1e15 then return format('%d', n) end
  return format('%.17g', n)
end

local function docChecks(dp, now)
  for _, l in ipairs(dp[1]) do
    local k = l[1]
    local d = DOCS[k]
    if not d then
      local m = call('HMGET', KEYS[k], 'v', 'x', unpack(l, 2))
      d = {v = tonumber(m[1]) or 0, x = tonumber(m[2]) or false, f = {}}
      for i = 2, #l do d.f[l[i]] = m[i + 1] or false end
      d.full = d.v == 0
      DOCS[k] = d
    elseif not d.full then
      local missing
      for i = 2, #l do
        if d.f[l[i]] == nil then
          missing = missing or {}
          missing[#missing + 1] = l[i]
        end
      end
      if missing then
        local m = call('HMGET', KEYS[k], unpack(missing))
        for i, name in ipairs(missing) do d.f[name] = m[i] or false end
      end
    end
  end
  local c = dp[2]
  if c ~= 0 then
    for j = 1, #c, 4 do
      local d = DOCS[c[j]]
      local v = 0
      if docLive(d, now) then
        local t = d.f[c[j + 1]]
        v = t and tonumber(t) or 0
      end
      local op, want = c[j + 2], c[j + 3]
      local ok
      if op == 'lt' then ok = v < want elseif op == 'lte' then ok = v <= want elseif op == 'gte' then ok = v >= want else ok = v == want end
      if not ok then return 'condition', 'd' .. tostring((j + 3) / 4) end
    end
  end
  local w = dp[3]
  if w ~= 0 then
    for i, x in ipairs(w) do
      if x[4] >= 0 then
        local d = DOCS[x[1]]
        if (docLive(d, now) and d.v or 0) ~= x[4] then return 'doc', tostring(i) end
      end
    end
  end
  return nil
end

-- Hash writes are deferred to the end of the call (docFlush), as the ledger counters are: a counter
-- doc that 64 transactions of one call add to is written once, not 64 times. A doc's pending state:
-- del (DEL the hash first), w (field -> text to write), px (PEXPIREAT to set after the write).
local DIRTY = {}
local function docTouch(k, d)
  if not d.dirty then
    d.dirty = true
    DIRTY[#DIRTY + 1] = k
  end
end

-- dx = {doc-expiry key index, length of a doc key before its member}. Index and expiry members
-- are written at once (creation and expiry changes are rare on the hot path).
local function docWrites(w, now, dx)
  for _, x in ipairs(w) do
    local k = x[1]
    local key = KEYS[k]
    local d = DOCS[k]
    local live = docLive(d, now)
    docTouch(k, d)
    if x[5] == 1 then
      if d.v > 0 then
        call('ZREM', KEYS[x[3]], x[2])
        if d.x then call('ZREM', KEYS[dx[1]], sub(key, dx[2] + 1)) end
      end
      d.v, d.x, d.f, d.full, d.del, d.w, d.px = 0, false, {}, true, true, {}, false
    else
      local setAt, adds = x[6], x[8]
      -- A replaced value or an expired doc starts from an empty hash.
      local fresh = d.v > 0 and (setAt ~= 0 or not live)
      if fresh then
        d.del, d.w, d.px = true, {}, false
      end
      if fresh or d.v == 0 then
        d.f = {}
        d.full = true
      end
      local pending = d.w or {}
      d.w = pending
      local version = (live and d.v or 0) + 1
      local oldX = live and d.x or false
      local newX = x[9] ~= 0 and x[9] or oldX
      local expire = newX and (fresh or version == 1 or newX ~= oldX)
      pending.v = format('%d', version)
      if expire then
        pending.x = numText(newX)
        d.px = newX
      end
      if setAt ~= 0 then
        for i = setAt, setAt + 2 * x[7] - 1, 2 do
          local name, text = ARGV[i], ARGV[i + 1]
          pending[name] = text
          d.f[name] = text
        end
      end
      if adds ~= 0 then
        for j = 1, #adds, 2 do
          local name = adds[j]
          local t = d.f[name]
          local text = numText((t and tonumber(t) or 0) + adds[j + 1])
          pending[name] = text
          d.f[name] = text
        end
      end
      if version == 1 then call('ZADD', KEYS[x[3]], 0, x[2]) end
      if expire then call('ZADD', KEYS[dx[1]], pending.x, sub(key, dx[2] + 1)) end
      d.v = version
      d.x = newX
    end
  end
end

-- Write every doc the call changed: before the batched reads and at the end of the call.
local function docFlush()
  for _, k in ipairs(DIRTY) do
    local d = DOCS[k]
    local key = KEYS[k]
    if d.del then call('DEL', key) end
    if d.v > 0 and d.w then
      local args, n = {}, 0
      for name, text in pairs(d.w) do
        args[n + 1] = name
        args[n + 2] = text
        n = n + 2
      end
      call('HSET', key, unpack(args, 1, n))
      if d.px then call('PEXPIREAT', key, format('%d', math.ceil(d.px))) end
    end
    d.dirty, d.del, d.w, d.px = false, false, nil, false
  end
  DIRTY = {}
end
`

/**
 * Removes docs whose expiry is due (and their index members), at most ARGV[2] per call. KEYS[1]
 * doc-expiry; ARGV[1] now (ms), ARGV[2] limit, ARGV[3] the doc key prefix before `{collection}:{id}`,
 * ARGV[4] the index key prefix. A doc rewritten with a later expiry has a later score and is not
 * due; one recreated without an expiry is only unscheduled. Returns the members looked at.
 */
export const SWEEP_DOCS_SCRIPT = `
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local key = ARGV[3] .. m
  local meta = redis.call('HMGET', key, 'v', 'x')
  local x = tonumber(meta[2])
  if not meta[1] or (x and x <= now) then
    if meta[1] then redis.call('DEL', key) end
    local at = string.find(m, ':', 1, true)
    if at then redis.call('ZREM', ARGV[4] .. string.sub(m, 1, at - 1), string.sub(m, at + 1)) end
    redis.call('ZREM', KEYS[1], m)
  elseif x then
    redis.call('ZADD', KEYS[1], meta[2], m)
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return #due`
