/**
 * The Lua scripts of the Redis counter store. Each store method is one script, so each is one
 * round trip (EVALSHA) and atomic: Redis runs a script to the end before any other command, so
 * N instances checking one counter see each other's reservations exactly as one instance would.
 *
 * Layout, under `<prefix>{<account>}:` (one hash tag per account, so every key of a call's
 * script lives on one Cluster shard):
 * - `h:<metric>:<bucket>:<key>`: hash of one counter: `u` settled usage, `r` live reserved,
 *   `x` window end (ms, absent for `total`), `a:<id>` what reservation `<id>` holds on it;
 * - `l:<metric>:<bucket>:<key>`: sorted set of reservation ids by lease end (ms);
 * - `r:<id>`: hash of one reservation: `n` holds, and per hold `c<i>` counter suffix, `m<i>`
 *   metric, `a<i>` amount, `x<i>` window end, `t<i>` key lifetime in ms.
 *
 * Numbers cross the Lua boundary as strings written with `%.17g`, which round-trips a double
 * exactly; a bare Lua number in a reply would be truncated to an integer by Redis.
 *
 * Expiry uses the caller's clock (`now` from the engine), not Redis's: a window ends when the
 * caller says so, and Redis's own TTLs (relative, with a margin) only collect the garbage.
 */

/** Shared helpers, prepended to each script. */
const COMMON = `
local function num(v) if v == false or v == nil or v == '' then return 0 end return tonumber(v) end
local function fmt(v) return string.format('%.17g', v) end
-- Drops reservations whose lease ended at or before now from one counter's live sum.
local function sweep(h, l, now)
  local gone = redis.call('ZRANGEBYSCORE', l, '-inf', now)
  if #gone > 0 then
    local r = num(redis.call('HGET', h, 'r'))
    for _, id in ipairs(gone) do
      r = r - num(redis.call('HGET', h, 'a:' .. id))
      redis.call('HDEL', h, 'a:' .. id)
    end
    redis.call('ZREMRANGEBYSCORE', l, '-inf', now)
    redis.call('HSET', h, 'r', fmt(r))
  end
  -- Adding and subtracting fractions leaves dust; with nothing held, the exact answer is 0.
  if redis.call('ZCARD', l) == 0 and redis.call('HEXISTS', h, 'r') == 1 then redis.call('HSET', h, 'r', '0') end
end
local function state(h, now)
  local v = redis.call('HMGET', h, 'u', 'r', 'x')
  local used = num(v[1])
  if v[3] and v[3] ~= '' and tonumber(v[3]) <= now then used = 0 end
  return used, math.max(0, num(v[2]))
end
-- Takes reservation id's hold off one counter, if it is still live there.
local function unhold(h, l, id)
  if redis.call('ZREM', l, id) == 1 then
    local r = num(redis.call('HGET', h, 'r')) - num(redis.call('HGET', h, 'a:' .. id))
    redis.call('HDEL', h, 'a:' .. id)
    if redis.call('ZCARD', l) == 0 or r < 0 then r = 0 end
    redis.call('HSET', h, 'r', fmt(r))
  end
end
`;

/**
 * KEYS: `r:<id>`, then per check its `h:` and `l:` keys, then (optional) the store's marker key.
 * ARGV: now, lease end, reservation key lifetime (ms), id, margin (ms), then per check:
 * suffix, metric, max ('' = unchecked), amount, window end ('' = none).
 * Returns `{1}` when admitted, `{2}` when the marker is gone (Redis lost its data: nothing is
 * counted until the counters are rebuilt, see `redis-data-loss.ts`), else
 * `{0, index, current, used, reserved}` (numbers as strings).
 */
export const RESERVE = `${COMMON}
local now = tonumber(ARGV[1])
local leaseUntil = tonumber(ARGV[2])
local id = ARGV[4]
local margin = tonumber(ARGV[5])
local n = math.floor((#KEYS - 1) / 2)
if #KEYS % 2 == 0 and redis.call('EXISTS', KEYS[#KEYS]) == 0 then return {2} end
for i = 1, n do
  local h, l = KEYS[2 * i], KEYS[2 * i + 1]
  sweep(h, l, now)
  local max = ARGV[5 + (i - 1) * 5 + 3]
  if max ~= '' then
    local used, reserved = state(h, now)
    if used + reserved >= tonumber(max) then
      return {0, tostring(i - 1), fmt(used + reserved), fmt(used), fmt(reserved)}
    end
  end
end
local rkey = KEYS[1]
redis.call('HSET', rkey, 'n', n, 'lease', ARGV[2])
for i = 1, n do
  local h, l = KEYS[2 * i], KEYS[2 * i + 1]
  local base = 5 + (i - 1) * 5
  local amount = tonumber(ARGV[base + 4])
  local x = ARGV[base + 5]
  redis.call('HSET', h, 'r', fmt(num(redis.call('HGET', h, 'r')) + amount),
    'a:' .. id, fmt(num(redis.call('HGET', h, 'a:' .. id)) + amount))
  redis.call('ZADD', l, 'GT', leaseUntil, id)
  local ttl = ''
  if x ~= '' then
    redis.call('HSETNX', h, 'x', x)
    -- The counter lives to its window's end, and at least as long as this lease, plus a margin
    -- for clock skew between instances.
    ttl = math.max(tonumber(x) - now, leaseUntil - now) + margin
    redis.call('PEXPIRE', h, ttl)
    redis.call('PEXPIRE', l, ttl)
  end
  redis.call('HSET', rkey, 'c' .. i, ARGV[base + 1], 'm' .. i, ARGV[base + 2], 'a' .. i, ARGV[base + 4], 'x' .. i, x, 't' .. i, ttl)
end
redis.call('PEXPIRE', rkey, tonumber(ARGV[3]))
return {1}
`;

/**
 * KEYS: `r:<id>`. ARGV: id, key base (`<prefix>{<account>}:`), mode (`settle` | `release`),
 * requests, tokens, cost (USD). Counter keys are read from the reservation; they share its hash
 * tag, so they are on its shard. Returns 1 when the reservation existed, else 0.
 */
export const FINISH = `${COMMON}
local rkey = KEYS[1]
local id, base, mode = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(redis.call('HGET', rkey, 'n'))
if not n then return 0 end
local actual = { requests = tonumber(ARGV[4]), tokens = tonumber(ARGV[5]), cost = tonumber(ARGV[6]), concurrent = 0 }
local hold = redis.call('HGETALL', rkey)
local f = {}
for i = 1, #hold, 2 do f[hold[i]] = hold[i + 1] end
for i = 1, n do
  local suffix = f['c' .. i]
  local h, l = base .. 'h:' .. suffix, base .. 'l:' .. suffix
  if mode == 'settle' then
    local add = actual[f['m' .. i]] or 0
    if add ~= 0 then
      local fresh = redis.call('EXISTS', h) == 0
      redis.call('HSET', h, 'u', fmt(num(redis.call('HGET', h, 'u')) + add))
      -- A counter whose key Redis already collected is recreated with its window and lifetime.
      if fresh and f['x' .. i] ~= '' then
        redis.call('HSET', h, 'x', f['x' .. i])
        redis.call('PEXPIRE', h, tonumber(f['t' .. i]))
      end
    end
  end
  unhold(h, l, id)
end
redis.call('DEL', rkey)
return 1
`;

/**
 * KEYS: `r:<id>`. ARGV: id, key base, now, lease end. Extends the lease on every counter; a hold
 * whose lease had already run out counts again, as a renewed lease does in the other stores.
 */
export const RENEW = `${COMMON}
local rkey = KEYS[1]
local id, base = ARGV[1], ARGV[2]
local leaseUntil = tonumber(ARGV[4])
local n = tonumber(redis.call('HGET', rkey, 'n'))
if not n then return 0 end
local old = tonumber(redis.call('HGET', rkey, 'lease'))
if leaseUntil <= old then return 1 end
redis.call('HSET', rkey, 'lease', ARGV[4])
redis.call('PEXPIRE', rkey, redis.call('PTTL', rkey) + (leaseUntil - old))
local counted = {}
for i = 1, n do
  local suffix = redis.call('HGET', rkey, 'c' .. i)
  local h, l = base .. 'h:' .. suffix, base .. 'l:' .. suffix
  if redis.call('ZADD', l, 'XX', 'GT', 'CH', leaseUntil, id) == 0 and redis.call('ZSCORE', l, id) == false and not counted[suffix] then
    local amount = 0
    for j = 1, n do
      if redis.call('HGET', rkey, 'c' .. j) == suffix then amount = amount + tonumber(redis.call('HGET', rkey, 'a' .. j)) end
    end
    redis.call('HSET', h, 'r', fmt(num(redis.call('HGET', h, 'r')) + amount), 'a:' .. id, fmt(amount))
    redis.call('ZADD', l, leaseUntil, id)
  end
  counted[suffix] = true
end
return 1
`;

/** KEYS: `h:` and `l:` of one counter. ARGV: now. Returns `{used, reserved}` as strings. */
export const READ = `${COMMON}
local now = tonumber(ARGV[1])
sweep(KEYS[1], KEYS[2], now)
local used, reserved = state(KEYS[1], now)
return {fmt(used), fmt(reserved)}
`;
