// The rare-parts writes of APPLY_SCRIPT (spliced into it): tenants, API keys, audit rows and the
// tier control, applied after every check of a transaction passed and its ledgers, reservation and
// docs were written. Uses the script's locals `call`, `ipairs`, `unpack` and `batch`.

/** Lua: writeRareParts(rare) — rare = the plan's rare parts (apply-script.ts header: t, a, au, af, ctl). */
export const RARE_WRITES_LUA = String.raw`
local function writeRareParts(rare)
  -- Tenants and API keys: the auth epoch moves with the write, so an instance that checks it before
  -- serving from its cache sees every change acknowledged before (redis-store.ts, cached()).
  if rare.t or rare.a then call('INCR', KEYS[batch.ep]) end

  if rare.t then
    for _, t in ipairs(rare.t) do
      call('SET', KEYS[t[1]], t[2])
      call('SADD', KEYS[t[3]], t[4])
      call('PUBLISH', batch.inv, 't:' .. t[4])
    end
  end

  if rare.a then
    for _, a in ipairs(rare.a) do
      local old = call('GET', KEYS[a[1]])
      if old then
        local oldHash = cjson.decode(old).key_hash
        if oldHash and oldHash ~= a[5] then
          call('DEL', batch.hp .. oldHash)
          call('PUBLISH', batch.inv, 'k:' .. oldHash)
        end
      end
      call('SET', KEYS[a[1]], a[2])
      call('SET', KEYS[a[6]], a[4])
      call('SADD', KEYS[a[3]], a[4])
      call('PUBLISH', batch.inv, 'k:' .. a[5])
    end
  end

  if rare.au then
    call('RPUSH', KEYS[rare.au.k], unpack(rare.au.e))
    call('LTRIM', KEYS[rare.au.k], -rare.au.max, -1)
  end
  if rare.af then
    call('RPUSH', KEYS[rare.af.k], unpack(rare.af.e))
    call('LTRIM', KEYS[rare.af.k], -rare.af.max, -1)
  end

  if rare.ctl then
    call('SET', KEYS[rare.ctl.k], rare.ctl.v)
    call('PUBLISH', rare.ctl.ch, rare.ctl.v)
  end
end
`
