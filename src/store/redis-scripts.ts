/**
 * The Lua scripts of the Redis counter store. Each store method is one script, so each is one
 * round trip (EVALSHA) and atomic: Redis runs a script to the end before any other command, so
 * N instances checking one counter see each other's reservations exactly as one instance would.
 *
 * Layout, under `<prefix>{<account>}:` (one hash tag per account, so every key of a call's
 * script lives on one Cluster shard):
 * - `h:<metric>:<bucket>:<key>`: hash of one counter: `u` settled usage, `r` live reserved,
 *   `x` window end (ms, absent for `total`), `a:<id>` what reservation `<id>` holds on it, `q`
 *   present once its values are whole units (cost in 1e-10 USD, see `money.ts`);
 * - `l:<metric>:<bucket>:<key>`: sorted set of reservation ids by lease end (ms);
 * - `r:<id>`: hash of one reservation: `n` holds, `lease` its end, `q` (whole units), `row` the
 *   ledger row to record if its holder is lost, and per hold `c<i>` counter suffix, `m<i>`
 *   metric, `a<i>` amount, `x<i>` window end, `t<i>` key lifetime in ms;
 * - `leases`: sorted set of every reservation id by lease end, to find lost holders;
 * - `lost:<id>`: a reservation charged as lost, so that its late settlement adds nothing.
 *
 * Amounts are whole numbers (cost in 1e-10 USD units, tokens whole) added with HINCRBY, which is
 * exact in 64 bits: Lua's own numbers are doubles. They cross the Lua boundary as strings.
 * Counters written before money was kept in units (no `q`) are converted when first touched.
 *
 * Expiry uses the caller's clock (`now` from the engine), not Redis's: a window ends when the
 * caller says so, and Redis's own TTLs (relative, with a margin) only collect the garbage.
 */

/** Shared helpers, prepended to each script. */
const COMMON = `
local function num(v) if v == false or v == nil or v == '' then return 0 end return tonumber(v) end
local function fmt(v) return string.format('%.17g', v) end
local function whole(v) return string.format('%d', math.floor(v + 0.5)) end
-- A counter or reservation written before amounts were whole units: cost was USD.
local function upgrade(h, metric)
  if redis.call('HEXISTS', h, 'q') == 1 or redis.call('EXISTS', h) == 0 then return end
  local scale = 1
  if metric == 'cost' then scale = 10000000000 end
  local f = redis.call('HGETALL', h)
  for i = 1, #f, 2 do
    local k = f[i]
    if k == 'u' or k == 'r' or string.sub(k, 1, 2) == 'a:' then redis.call('HSET', h, k, whole(num(f[i + 1]) * scale)) end
  end
  redis.call('HSET', h, 'q', '1')
end
local function upgradeReservation(rkey)
  if redis.call('HEXISTS', rkey, 'q') == 1 or redis.call('EXISTS', rkey) == 0 then return end
  local n = tonumber(redis.call('HGET', rkey, 'n'))
  for i = 1, n do
    local scale = 1
    if redis.call('HGET', rkey, 'm' .. i) == 'cost' then scale = 10000000000 end
    redis.call('HSET', rkey, 'a' .. i, whole(num(redis.call('HGET', rkey, 'a' .. i)) * scale))
  end
  redis.call('HSET', rkey, 'q', '1')
end
-- Takes reservation id's hold off one counter, if it is still live there.
local function unhold(h, l, id)
  if redis.call('ZREM', l, id) == 1 then
    local a = redis.call('HGET', h, 'a:' .. id)
    if a and a ~= '0' then redis.call('HINCRBY', h, 'r', '-' .. a) end
    redis.call('HDEL', h, 'a:' .. id)
    if redis.call('ZCARD', l) == 0 or num(redis.call('HGET', h, 'r')) < 0 then redis.call('HSET', h, 'r', '0') end
  end
end
-- Adds a whole amount to a counter's settled usage; a counter whose key Redis already collected
-- is recreated with its window and lifetime.
local function charge(h, add, x, ttl)
  if add == '0' then return end
  local fresh = redis.call('EXISTS', h) == 0
  redis.call('HINCRBY', h, 'u', add)
  redis.call('HSET', h, 'q', '1')
  if fresh and x ~= '' then
    redis.call('HSET', h, 'x', x)
    redis.call('PEXPIRE', h, tonumber(ttl))
  end
end
-- The holder of reservation id is gone (its lease ran out): every counter is charged what was
-- reserved on it, the reservation ends, and its ledger row is returned (or '' when it has none).
-- Returns false when the reservation is not one this code wrote (gone, or from before units).
local function chargeLost(base, id, grace)
  local rkey = base .. 'r:' .. id
  redis.call('ZREM', base .. 'leases', id)
  if redis.call('HEXISTS', rkey, 'q') == 0 then return false end
  local hold = redis.call('HGETALL', rkey)
  local f = {}
  for i = 1, #hold, 2 do f[hold[i]] = hold[i + 1] end
  for i = 1, tonumber(f['n']) do
    local suffix = f['c' .. i]
    local h, l = base .. 'h:' .. suffix, base .. 'l:' .. suffix
    upgrade(h, f['m' .. i])
    if f['m' .. i] ~= 'concurrent' then charge(h, f['a' .. i], f['x' .. i], f['t' .. i]) end
    unhold(h, l, id)
  end
  redis.call('DEL', rkey)
  redis.call('SET', base .. 'lost:' .. id, '1', 'PX', grace)
  return f['row'] or ''
end
-- Charges every lost holder of the account whose lease ended at or before now (a bounded batch
-- per call); appends their rows to out.
local function chargeLeases(base, now, grace, out)
  local gone = redis.call('ZRANGEBYSCORE', base .. 'leases', '-inf', now, 'LIMIT', 0, 100)
  for _, id in ipairs(gone) do
    local row = chargeLost(base, id, grace)
    if row and row ~= '' then table.insert(out, row) end
  end
end
-- Ends the holds on one counter whose lease ended at or before now: a lost holder is charged,
-- a hold from before units is dropped as before.
local function sweep(base, h, l, now, grace, out)
  local gone = redis.call('ZRANGEBYSCORE', l, '-inf', now)
  for _, id in ipairs(gone) do
    local row = chargeLost(base, id, grace)
    if row then
      if row ~= '' then table.insert(out, row) end
    else
      unhold(h, l, id)
    end
  end
end
-- The account's lease index outlives every reservation in it, and no longer.
local function keepLeases(base, ttl)
  if redis.call('PTTL', base .. 'leases') < ttl then redis.call('PEXPIRE', base .. 'leases', ttl) end
end
local function state(h, now)
  local v = redis.call('HMGET', h, 'u', 'r', 'x')
  local used = num(v[1])
  if v[3] and v[3] ~= '' and tonumber(v[3]) <= now then used = 0 end
  return used, math.max(0, num(v[2]))
end
`;

/**
 * KEYS: `r:<id>`, then per check its `h:` and `l:` keys, then (optional) the store's marker key.
 * ARGV: now, lease end, reservation key lifetime (ms), id, margin (ms), key base, lost-row JSON
 * ('' = none), grace (ms), then per check: suffix, metric, max ('' = unchecked), amount (whole),
 * window end ('' = none).
 * Returns `{1, rows...}` when admitted, `{2}` when the marker is gone (Redis lost its data:
 * nothing is counted until the counters are rebuilt, see `redis-data-loss.ts`), else
 * `{0, index, current, used, reserved, rows...}` (numbers as strings), where rows are the ledger
 * rows of lost holders charged on the way.
 */
export const RESERVE = `${COMMON}
local now = tonumber(ARGV[1])
local leaseUntil = tonumber(ARGV[2])
local id = ARGV[4]
local margin = tonumber(ARGV[5])
local base = ARGV[6]
local grace = tonumber(ARGV[8])
local A = 8
local n = math.floor((#KEYS - 1) / 2)
if #KEYS % 2 == 0 and redis.call('EXISTS', KEYS[#KEYS]) == 0 then return {2} end
local rows = {}
chargeLeases(base, now, grace, rows)
for i = 1, n do
  local h, l = KEYS[2 * i], KEYS[2 * i + 1]
  upgrade(h, ARGV[A + (i - 1) * 5 + 2])
  sweep(base, h, l, now, grace, rows)
  local max = ARGV[A + (i - 1) * 5 + 3]
  if max ~= '' then
    local used, reserved = state(h, now)
    if used + reserved >= tonumber(max) then
      local out = {0, tostring(i - 1), fmt(used + reserved), fmt(used), fmt(reserved)}
      for _, row in ipairs(rows) do table.insert(out, row) end
      return out
    end
  end
end
local rkey = KEYS[1]
redis.call('HSET', rkey, 'n', n, 'lease', ARGV[2], 'q', '1')
if ARGV[7] ~= '' then redis.call('HSET', rkey, 'row', ARGV[7]) end
for i = 1, n do
  local h, l = KEYS[2 * i], KEYS[2 * i + 1]
  local b = A + (i - 1) * 5
  local amount = ARGV[b + 4]
  local x = ARGV[b + 5]
  redis.call('HINCRBY', h, 'r', amount)
  redis.call('HINCRBY', h, 'a:' .. id, amount)
  redis.call('HSET', h, 'q', '1')
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
  redis.call('HSET', rkey, 'c' .. i, ARGV[b + 1], 'm' .. i, ARGV[b + 2], 'a' .. i, amount, 'x' .. i, x, 't' .. i, ttl)
end
redis.call('ZADD', base .. 'leases', leaseUntil, id)
redis.call('PEXPIRE', rkey, tonumber(ARGV[3]))
keepLeases(base, tonumber(ARGV[3]))
local out = {1}
for _, row in ipairs(rows) do table.insert(out, row) end
return out
`;

/**
 * KEYS: `r:<id>`. ARGV: id, key base (`<prefix>{<account>}:`), mode (`settle` | `release`),
 * requests, tokens, cost (whole units). Counter keys are read from the reservation; they share
 * its hash tag, so they are on its shard. Returns 1 when the reservation existed, 2 when it had
 * been charged as lost (the charge stands), else 0.
 */
export const FINISH = `${COMMON}
local rkey = KEYS[1]
local id, base, mode = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(redis.call('HGET', rkey, 'n'))
if not n then
  if redis.call('EXISTS', base .. 'lost:' .. id) == 1 then return 2 end
  return 0
end
upgradeReservation(rkey)
local actual = { requests = ARGV[4], tokens = ARGV[5], cost = ARGV[6], concurrent = '0' }
local hold = redis.call('HGETALL', rkey)
local f = {}
for i = 1, #hold, 2 do f[hold[i]] = hold[i + 1] end
for i = 1, n do
  local suffix = f['c' .. i]
  local h, l = base .. 'h:' .. suffix, base .. 'l:' .. suffix
  upgrade(h, f['m' .. i])
  if mode == 'settle' then charge(h, actual[f['m' .. i]] or '0', f['x' .. i], f['t' .. i]) end
  unhold(h, l, id)
end
redis.call('DEL', rkey)
redis.call('ZREM', base .. 'leases', id)
return 1
`;

/**
 * KEYS: `r:<id>`. ARGV: id, key base, now, lease end. Extends the lease on every counter; a hold
 * whose lease had already run out but was not yet charged as lost counts again, as a renewed
 * lease does in the other stores.
 */
export const RENEW = `${COMMON}
local rkey = KEYS[1]
local id, base = ARGV[1], ARGV[2]
local leaseUntil = tonumber(ARGV[4])
local n = tonumber(redis.call('HGET', rkey, 'n'))
if not n then return 0 end
upgradeReservation(rkey)
local old = tonumber(redis.call('HGET', rkey, 'lease'))
if leaseUntil <= old then return 1 end
redis.call('HSET', rkey, 'lease', ARGV[4])
redis.call('PEXPIRE', rkey, redis.call('PTTL', rkey) + (leaseUntil - old))
if redis.call('HEXISTS', rkey, 'q') == 1 then
  redis.call('ZADD', base .. 'leases', leaseUntil, id)
  keepLeases(base, redis.call('PTTL', rkey))
end
local counted = {}
for i = 1, n do
  local suffix = redis.call('HGET', rkey, 'c' .. i)
  local h, l = base .. 'h:' .. suffix, base .. 'l:' .. suffix
  upgrade(h, redis.call('HGET', rkey, 'm' .. i))
  if redis.call('ZADD', l, 'XX', 'GT', 'CH', leaseUntil, id) == 0 and redis.call('ZSCORE', l, id) == false and not counted[suffix] then
    local amount = 0
    for j = 1, n do
      if redis.call('HGET', rkey, 'c' .. j) == suffix then amount = amount + tonumber(redis.call('HGET', rkey, 'a' .. j)) end
    end
    redis.call('HINCRBY', h, 'r', whole(amount))
    redis.call('HSET', h, 'a:' .. id, whole(amount))
    redis.call('ZADD', l, leaseUntil, id)
  end
  counted[suffix] = true
end
return 1
`;

/**
 * KEYS: `h:` and `l:` of one counter. ARGV: now, key base, metric, grace (ms). Returns
 * `{used, reserved, rows...}` as strings, rows being those of lost holders charged on the way.
 */
export const READ = `${COMMON}
local now = tonumber(ARGV[1])
local base, grace = ARGV[2], tonumber(ARGV[4])
local rows = {}
chargeLeases(base, now, grace, rows)
upgrade(KEYS[1], ARGV[3])
sweep(base, KEYS[1], KEYS[2], now, grace, rows)
local used, reserved = state(KEYS[1], now)
local out = {fmt(used), fmt(reserved)}
for _, row in ipairs(rows) do table.insert(out, row) end
return out
`;
