"""Lua source of the Redis store's atomic operations (no redis import here; `redis.py` loads them).

Every script starts with the same prelude: key layout, metadata decoding, the expiry rule and the
soft-delete cascade. Putting expiry *inside* the scripts mirrors `_sqlite_ops.live_row`: an access that
finds a stream expired removes it (cascading through soft-deleted fork sources) in the same atomic step.

Scripts compute the keys of fork parents and children from the prefix, so they need a standalone Redis
(or a single-slot setup); Redis Cluster is not supported.

Key layout under the prefix `P` (default `flue:`), for a stream at path `p`:
    P m:p   hash    metadata: ct, media, tail, closed, ttl, exp, created, access, from, fofs, fsub, lseq, deleted
    P x:p   stream  message i has the entry id `0-i` and one field `d`; offsets map to ids without a lookup
    P p:p   hash    producer id -> "epoch:seq"
    P c:p   stream  the doorbell `wait()` blocks on beside `x`: an entry when the stream closes or goes away
    P k:p   set     paths of the forks made from p (so a delete knows whether to soft-delete)
    P index zset    live paths scored by creation time (list_streams)
    P a:t   string  the result of the append with retry token t, for 60 s (see APPEND)
"""

from __future__ import annotations

PRELUDE = r"""
local PFX = ARGV[1]
local function mkey(p) return PFX .. 'm:' .. p end
local function xkey(p) return PFX .. 'x:' .. p end
local function pkey(p) return PFX .. 'p:' .. p end
local function ckey(p) return PFX .. 'c:' .. p end
local function kkey(p) return PFX .. 'k:' .. p end
local INDEX = PFX .. 'index'

local function meta(p)
  local flat = redis.call('HGETALL', mkey(p))
  if #flat == 0 then return nil end
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end

-- _rules.expired, on the same float arithmetic.
local function is_expired(m, now)
  if m.exp and now >= tonumber(m.exp) then return true end
  if m.ttl and now >= tonumber(m.access) + tonumber(m.ttl) then return true end
  return false
end

-- Wake the wait()s blocked on a stream that is going away (they re-check and find it gone). Deleting the
-- doorbell in the same script would not wake them, so leave one fresh entry that cleans itself up.
local function ring_gone(p)
  redis.call('DEL', ckey(p))
  redis.call('XADD', ckey(p), '*', 'gone', '1')
  redis.call('PEXPIRE', ckey(p), 60000)
end

local remove

-- Whether a fork still references p; forks found expired are removed on the way (as _sqlite_ops does).
local function has_live_refs(p, now)
  local referenced = false
  for _, child in ipairs(redis.call('SMEMBERS', kkey(p))) do
    local cm = meta(child)
    if cm == nil or cm.from ~= p then
      redis.call('SREM', kkey(p), child)  -- the fork is gone (or its path was reused by a non-fork)
    else
      local alive = true
      if cm.deleted ~= '1' and is_expired(cm, now) then
        remove(child, now)
        alive = redis.call('EXISTS', mkey(child)) == 1
      end
      if alive then referenced = true end
    end
  end
  return referenced
end

-- Soft-delete while forks reference p; else drop it and cascade to soft-deleted ancestors.
remove = function(p, now)
  if has_live_refs(p, now) then
    redis.call('HSET', mkey(p), 'deleted', '1')
    redis.call('ZREM', INDEX, p)
    ring_gone(p)
    return
  end
  local current = p
  while current do
    local parent = redis.call('HGET', mkey(current), 'from')
    redis.call('DEL', mkey(current), xkey(current), pkey(current), kkey(current))
    redis.call('ZREM', INDEX, current)
    ring_gone(current)
    if not parent then return end
    redis.call('SREM', kkey(parent), current)
    local pm = meta(parent)
    if pm == nil or pm.deleted ~= '1' or has_live_refs(parent, now) then return end
    current = parent
  end
end

-- _sqlite_ops.live_row: the stream for an access, expiring it first if its time is up.
local function live(p, now)
  local m = meta(p)
  if m and m.deleted ~= '1' and is_expired(m, now) then
    remove(p, now)
    m = meta(p)
  end
  if m == nil then return nil, 'NOTFOUND' end
  if m.deleted == '1' then return nil, 'GONE' end
  return m, 'OK'
end

local function touch(p, m, now_text)
  if m.ttl then redis.call('HSET', mkey(p), 'access', now_text) end
end

-- Bytewise comparison: Lua's `<` on strings uses strcoll, and Redis sets LC_COLLATE from the environment.
local function bytes_cmp(a, b)
  if a == b then return 0 end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y and -1 or 1 end
  end
  return #a < #b and -1 or 1
end

-- Non-negative decimal strings compared as numbers, exactly (Lua numbers are doubles).
local function dec_cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  return bytes_cmp(a, b)
end
"""

# ARGV: prefix, path, now, has_ct, ct_media, has_sseq, sseq, has_producer, producer id, epoch, seq,
# seq - 1, close, stamp, create, create_ct, create_media, token, messages...
# The producer numbers arrive as canonical decimal strings; "seq - 1" is computed by Python so the
# "next in sequence" test is a string equality, exact for any size.
# `token` (unique per append() call, '' for producer appends, which dedupe themselves) makes the
# client's automatic retry after a lost reply harmless: a replay answers the first result, writes nothing.
APPEND = (
    PRELUDE
    + r"""
local path, now_text = ARGV[2], ARGV[3]
local now = tonumber(now_text)
local FIRST = 19
local token_key = nil
if ARGV[18] ~= '' then
  token_key = PFX .. 'a:' .. ARGV[18]
  local prior = redis.call('GET', token_key)
  if prior then
    local first, last, was_closed = string.match(prior, '^(%d+):(%d+):(%d)$')
    return {'OK', tonumber(first), tonumber(last), tonumber(was_closed)}
  end
end
local m, status = live(path, now)
if m == nil and status == 'NOTFOUND' and ARGV[15] == '1' then
  redis.call('DEL', xkey(path), pkey(path), ckey(path), kkey(path))
  redis.call('HSET', mkey(path), 'ct', ARGV[16], 'media', ARGV[17], 'tail', '0', 'closed', '0',
             'created', now_text, 'access', now_text)
  redis.call('ZADD', INDEX, now, path)
  m = meta(path)
end
if m == nil then return {status} end

local tail = tonumber(m.tail)
local closed = m.closed == '1'
local nmsg = #ARGV - FIRST + 1
local has_messages = nmsg > 0
local close = ARGV[13] == '1'
local has_producer = ARGV[8] == '1'
local pid, epoch, seq, seq_before = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local pe, ps = nil, nil
if has_producer then
  local raw = redis.call('HGET', pkey(path), pid)
  if raw then pe, ps = string.match(raw, '^(%d+):(%d+)$') end
end

-- Anything but a plain accepted append goes back to Python, which re-runs _rules.check_append on this
-- snapshot to build the identical duplicate result or exception.
local function verdict(touching)
  if touching then touch(path, m, now_text) end
  return {'CHECK', tail, closed and 1 or 0, m.lseq or false, pe or false, ps or false, m.ct}
end

-- The order of _rules.check_append: duplicate, closed, content type, producer, Stream-Seq.
if pe and dec_cmp(epoch, pe) == 0 and dec_cmp(seq, ps) <= 0 then return verdict(true) end
if closed then return verdict(close and not has_messages) end
if has_messages and ARGV[4] == '1' and ARGV[5] ~= m.media then return verdict(false) end
if has_producer then
  if pe == nil then
    if seq ~= '0' then return verdict(false) end
  else
    local c = dec_cmp(epoch, pe)
    if c < 0 then return verdict(false) end
    if c > 0 and seq ~= '0' then return verdict(false) end
    if c == 0 and seq_before ~= ps then return verdict(false) end
  end
end
if ARGV[6] == '1' and m.lseq and bytes_cmp(ARGV[7], m.lseq) <= 0 then return verdict(false) end

local stamp = ARGV[14] == '1'
if stamp then
  -- base.stamp_seq refuses anything but JSON objects; check them all before writing any (all or none).
  for i = FIRST, #ARGV do
    if not string.find(ARGV[i], '^[ \t\n\r\v\f]*{') then return {'NOTOBJECT'} end
  end
end
local xk = xkey(path)
for i = 1, nmsg do
  local data = ARGV[FIRST + i - 1]
  local index = string.format('%d', tail + i)
  if stamp then
    -- base.stamp_seq, byte for byte.
    local body = string.gsub(data, '^[ \t\n\r\v\f]+', '')
    local rest = string.gsub(string.sub(body, 2), '^[ \t\n\r\v\f]+', '')
    local sep = ','
    if string.sub(rest, 1, 1) == '}' then sep = '' end
    data = '{"seq":' .. index .. sep .. rest
  end
  redis.call('XADD', xk, '0-' .. index, 'd', data)
end
local new_tail = tail + nmsg
redis.call('HSET', mkey(path), 'tail', string.format('%d', new_tail))
if close then
  redis.call('HSET', mkey(path), 'closed', '1')
  redis.call('XADD', ckey(path), '*', 'closed', '1')
end
if ARGV[6] == '1' then redis.call('HSET', mkey(path), 'lseq', ARGV[7]) end
if has_producer then redis.call('HSET', pkey(path), pid, epoch .. ':' .. seq) end
touch(path, m, now_text)
local closed_now = (closed or close) and 1 or 0
if token_key then
  redis.call('SET', token_key, string.format('%d:%d:%d', tail, new_tail, closed_now), 'PX', 60000)
end
return {'OK', tail, new_tail, closed_now}
"""
)

# ARGV: prefix, path, now, start ("now", "bad" or a 0-based index), limit.
READ = (
    PRELUDE
    + r"""
local path, now_text = ARGV[2], ARGV[3]
local m, status = live(path, tonumber(now_text))
if m == nil then return {status} end
if ARGV[4] == 'bad' then return {'BADOFFSET'} end
local tail = tonumber(m.tail)
local start = tail
if ARGV[4] ~= 'now' then start = math.min(tonumber(ARGV[4]), tail) end
local stop = math.min(tail, start + tonumber(ARGV[5]))
local entries = {}
if stop > start then
  entries = redis.call('XRANGE', xkey(path), '0-' .. string.format('%d', start + 1), '0-' .. string.format('%d', stop))
end
touch(path, m, now_text)
return {'OK', start, stop, redis.call('HGETALL', mkey(path)), entries}
"""
)

# ARGV: prefix, path, now. The metadata of a live stream after expiring it if due (head, create).
LIVE = (
    PRELUDE
    + r"""
local m, status = live(ARGV[2], tonumber(ARGV[3]))
if m == nil then return {status} end
return {'OK', redis.call('HGETALL', mkey(ARGV[2]))}
"""
)

# ARGV: prefix, path, now.
TOUCH = (
    PRELUDE
    + r"""
local m = live(ARGV[2], tonumber(ARGV[3]))
if m then touch(ARGV[2], m, ARGV[3]) end
return 1
"""
)

# ARGV: prefix, path, now.
DELETE = (
    PRELUDE
    + r"""
local m, status = live(ARGV[2], tonumber(ARGV[3]))
if m == nil then return status end
remove(ARGV[2], tonumber(ARGV[3]))
return 'OK'
"""
)

# -- submissions and leases (no prelude needed beyond the prefix) -----------------------------------

# KEYS: submission hash, idempotency key ('' when none), unsettled zset, the session's unsettled zset.
# ARGV: prefix, id, created_at, then field/value pairs of the record.
PUT_SUBMISSION = r"""
local existing = nil
if KEYS[2] ~= '' then existing = redis.call('GET', KEYS[2]) end
if not existing and redis.call('EXISTS', KEYS[1]) == 1 then existing = ARGV[2] end
if existing then return {0, redis.call('HGETALL', ARGV[1] .. 'sub:' .. existing)} end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
return {1}
"""

# KEYS: submission hash, unsettled zset, the session's unsettled zset (resolved by Python first).
# ARGV: id, state, has_outcome, outcome, has_attempts, attempts. Settling twice is a no-op.
UPDATE_SUBMISSION = r"""
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'settled' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'outcome', ARGV[4]) end
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'attempts', ARGV[6]) end
if ARGV[2] == 'settled' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return 1
"""

# KEYS: lease. ARGV: owner, ttl in ms. Take a free lease with SET NX PX; renew only our own.
ACQUIRE_LEASE = r"""
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: owner. Delete only our own lease.
RELEASE_LEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
