"""The Redis side of `RedisUsage`: one Lua script, so every operation is one round trip.

One script with the operation in ARGV[1] (one SHA to load again after a restart). Time is
the server's own (`TIME`, microseconds), never a replica's clock. Every key of an account
carries its hash tag (`mimo:{account}:...`), so the script also runs on Redis Cluster.
Two keys per model:

    q  ZSET  "<lease id>:<tokens>" -> admitted at (us)   one member per admitted request;
             a settled lease becomes "<lease id>:=<total>" (so it settles once)
    m  HASH  sum (tokens of q), until (cooldown end, us), n (consecutive 429s),
             exp (us: when the TTLs must be refreshed)

An entry is in the window while `admitted_at > now - window`. Old entries go on each call
(amortised O(1): each leaves once). Both keys get a TTL of twice (the window plus a second),
m more while a cooldown runs; m's `exp` says when that guarantee falls to one window, and an
admit refreshes the TTLs only then (other writes always do), so every entry outlives its
window, a lease nobody settles leaves with it, and an idle model's keys expire. A missing
`sum` next to a non-empty q (m evicted) is recounted from q. A server clock stepping back
keeps old entries longer: the safe side.

Redis converts numbers given to `redis.call` with 17 significant digits (exact here); a string
built in Lua (`id .. ':' .. n`) uses ARGV strings, as Lua's own conversion keeps 14 digits.
"""

from __future__ import annotations

__all__ = ["SCRIPT"]

SCRIPT = r"""
local op = ARGV[1]
local window = tonumber(ARGV[2])
local ttl = math.ceil(window / 1000) + 1000

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function tokens(member)
  return tonumber(string.match(member, '(%d+)$'))
end

-- refresh both TTLs to twice the window (m also past a running cooldown) and note in m when
-- that guarantee drops to one window: an admit refreshes only then (see `load`)
local function keep(q, m, untilv, now)
  redis.call('PEXPIRE', q, 2 * ttl)
  local cool = 0
  if untilv > now then cool = math.ceil((untilv - now) / 1000) end
  redis.call('PEXPIRE', m, 2 * ttl + cool)
  redis.call('HSET', m, 'exp', now + ttl * 1000)
end

-- drop what left the window; returns requests, tokens, cooldown end and the TTL note
local function load(q, m, now)
  local cutoff = now - window
  local old = redis.call('ZRANGEBYSCORE', q, '-inf', cutoff)
  local meta = redis.call('HMGET', m, 'sum', 'until', 'exp')
  local untilv = tonumber(meta[2] or '0')
  local used = tonumber(meta[1] or '0')
  local exp = tonumber(meta[3] or '0')
  if #old > 0 then
    for i = 1, #old do used = used - tokens(old[i]) end
    redis.call('ZREMRANGEBYSCORE', q, '-inf', cutoff)
  end
  local count = redis.call('ZCARD', q)
  if count == 0 then
    if meta[1] then redis.call('HDEL', m, 'sum') end
    return 0, 0, untilv, exp
  end
  if not meta[1] then
    used = 0
    for _, member in ipairs(redis.call('ZRANGE', q, 0, -1)) do used = used + tokens(member) end
  end
  if #old > 0 or not meta[1] then redis.call('HSET', m, 'sum', used) end
  return count, used, untilv, exp
end

-- kind 0 fits, 1 rpm, 2 tpm, 3 cooldown; and when it frees (us; -1 never): the binding one
local function check(q, now, count, used, untilv, rpm, tpm, need)
  if need > tpm then return 2, -1 end
  local kind, free = 0, 0
  if untilv > now then kind, free = 3, untilv - now end
  if count >= rpm then
    local e = redis.call('ZRANGE', q, count - rpm, count - rpm, 'WITHSCORES')
    local f = tonumber(e[2]) + window - now
    if kind == 0 or f > free then kind, free = 1, f end
  end
  if used + need > tpm then
    local es = redis.call('ZRANGE', q, 0, -1, 'WITHSCORES')
    local freed, f = 0, 0
    for j = 1, #es, 2 do
      freed = freed + tokens(es[j])
      f = tonumber(es[j + 1]) + window - now
      if used - freed + need <= tpm then break end
    end
    if kind == 0 or f > free then kind, free = 2, f end
  end
  return kind, free
end

if op == 'admit' then
  -- KEYS: q m per candidate; ARGV: op window id "rpm tpm tokens ..." (three per candidate)
  local now = now_us()
  local out = {0, now}
  local i = 0
  for rpm, tpm, need_s in string.gmatch(ARGV[4], '(%d+) (%d+) (%d+)') do
    i = i + 1
    local q, m = KEYS[2 * i - 1], KEYS[2 * i]
    rpm, tpm = tonumber(rpm), tonumber(tpm)
    local need = tonumber(need_s)
    local count, used, untilv, exp = load(q, m, now)
    local kind, free = check(q, now, count, used, untilv, rpm, tpm, need)
    if kind == 0 then
      redis.call('ZADD', q, now, ARGV[3] .. ':' .. need_s)
      redis.call('HINCRBY', m, 'sum', need)
      if now >= exp then keep(q, m, untilv, now) end
      out[1] = i
      return out
    end
    if kind == 2 then
      table.insert(out, 2); table.insert(out, used); table.insert(out, tpm)
      table.insert(out, need)
    else
      table.insert(out, kind); table.insert(out, count); table.insert(out, rpm)
      table.insert(out, 1)
    end
    table.insert(out, free)
  end
  return out

elseif op == 'settle' then
  -- KEYS: q m; ARGV: op window id reserved total. Ends the model's 429 streak.
  local q, m = KEYS[1], KEYS[2]
  redis.call('HDEL', m, 'n')
  local member = ARGV[3] .. ':' .. ARGV[4]
  local score = redis.call('ZSCORE', q, member)
  if not score then return 0 end
  redis.call('ZREM', q, member)
  redis.call('ZADD', q, score, ARGV[3] .. ':=' .. ARGV[5])
  redis.call('HINCRBY', m, 'sum', tonumber(ARGV[5]) - tonumber(ARGV[4]))
  keep(q, m, tonumber(redis.call('HGET', m, 'until') or '0'), now_us())
  return 1

elseif op == 'release' then
  -- KEYS: q m; ARGV: op window id reserved
  local q, m = KEYS[1], KEYS[2]
  if redis.call('ZREM', q, ARGV[3] .. ':' .. ARGV[4]) == 0 then return 0 end
  if redis.call('ZCARD', q) == 0 then
    redis.call('HDEL', m, 'sum')
  else
    redis.call('HINCRBY', m, 'sum', -tonumber(ARGV[4]))
  end
  return 1

elseif op == 'throttle' then
  -- KEYS: q m; ARGV: op window retry_after_us (-1: back off) base_us cap_us jitter
  local m = KEYS[2]
  local now = now_us()
  local meta = redis.call('HMGET', m, 'n', 'until')
  local n = tonumber(meta[1] or '0')
  local delay = tonumber(ARGV[3])
  if delay < 0 then
    delay = math.floor(tonumber(ARGV[6]) * math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ n))
  end
  local untilv = math.max(tonumber(meta[2] or '0'), now + delay)
  redis.call('HSET', m, 'until', untilv, 'n', n + 1)
  redis.call('PEXPIRE', m, 2 * ttl + math.ceil((untilv - now) / 1000))
  return {untilv - now, n + 1}

elseif op == 'usage' then
  -- KEYS: q m per model; ARGV: op window. Read only: a reader with a shorter window than the
  -- gateways' must not drop entries they still count.
  local now = now_us()
  local cutoff = now - window
  local out = {now}
  for i = 1, #KEYS / 2 do
    local q, m = KEYS[2 * i - 1], KEYS[2 * i]
    local live = redis.call('ZRANGEBYSCORE', q, '(' .. cutoff, '+inf', 'WITHSCORES')
    local count, used, first, last = #live / 2, 0, -1, -1
    for j = 1, #live, 2 do used = used + tokens(live[j]) end
    if count > 0 then
      first = tonumber(live[2]) + window - now
      last = tonumber(live[#live]) + window - now
    end
    local untilv = tonumber(redis.call('HGET', m, 'until') or '0')
    table.insert(out, count); table.insert(out, used)
    table.insert(out, math.max(0, untilv - now)); table.insert(out, first)
    table.insert(out, last)
  end
  return out

elseif op == 'replay' then
  -- KEYS: q m per model; ARGV: op window, then model-index age_us tokens id per entry.
  -- Adds what a replica admitted locally while Redis was away; NX: once per lease.
  local now = now_us()
  for j = 3, #ARGV, 4 do
    local i = tonumber(ARGV[j])
    local q, m = KEYS[2 * i - 1], KEYS[2 * i]
    local added = redis.call('ZADD', q, 'NX', now - tonumber(ARGV[j + 1]),
                             ARGV[j + 3] .. ':' .. ARGV[j + 2])
    if added == 1 then
      redis.call('HINCRBY', m, 'sum', tonumber(ARGV[j + 2]))
      keep(q, m, tonumber(redis.call('HGET', m, 'until') or '0'), now)
    end
  end
  return 1
end
return redis.error_reply('mimo-select usage script: unknown operation ' .. tostring(op))
"""
