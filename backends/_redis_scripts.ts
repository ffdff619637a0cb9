// Lua scripts of the redis backend. Every script of a shard gets KEYS[1] = the shard's index
// (a sorted set of user keys, all scored 0, so ZRANGEBYLEX walks them in UTF-8 byte order),
// KEYS[2] = its expiry set (user key scored by its logical expiry time), KEYS[3] = its
// versions (a hash: user key -> version, a decimal integer) and KEYS[4] = its change counter
// (an integer bumped by every write and delete, read by `changes()`), KEYS[5] = its write
// lock (a random token with a lease, see BEGIN), ARGV[1] = the store
// clock's `now` and ARGV[2] = the prefix of the shard's value keys (a string per user key).
// All share the shard's hash tag, so a script runs atomically on one node; value keys are
// built inside the script from that prefix and stay in the same slot.
//
// A key's version lives exactly as long as its index entry: written with the value, removed by
// every delete, sweep, range cleanup and drop, so no version outlives its key for longer than
// the index entry already did (until the sweeper). A key written before versions existed has
// no hash field and reads as version 0. A plain GET costs one HGET more inside the script, a
// SET one HGET, one HSET and one INCR: no extra round trip, no extra Redis key per user key.

// Redis' own expiry is only a late cleanup hint: it is set when Redis' clock agrees with the
// store clock (a fake or skewed clock gets none), a minute after the logical expiry.
const PRELUDE = `
local idx, exp, ver, chg, now, pre = KEYS[1], KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]), ARGV[2]
local lock = KEYS[5]
-- Whether another writer's transaction holds the shard (see BEGIN): writes then answer -1
-- and write nothing, and the client waits and retries.
local function locked()
  return redis.call('EXISTS', lock) == 1
end
local clock_agrees
local function hint_ok()
  if clock_agrees == nil then
    local t = redis.call('TIME')
    local wall = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    clock_agrees = math.abs(wall - now) < 1000
  end
  return clock_agrees
end
-- The value of m when live, else false; its expiry score (a string) or false.
local function live(m)
  local v = redis.call('GET', pre .. m)
  local x = redis.call('ZSCORE', exp, m)
  if v and x and now >= tonumber(x) then return false, x end
  return v, x
end
-- The stored version of m (live or expired, while its index entry is kept), 0 for none.
local function version(m)
  return tonumber(redis.call('HGET', ver, m) or '0') or 0
end
-- Sets m to v with expiry x ('' for none) and version max(n, previous + 1) (n: '' for none).
local function put(m, v, x, n)
  local k = pre .. m
  local next, want = version(m) + 1, tonumber(n)
  if want and want > next then next = want end
  redis.call('HSET', ver, m, string.format('%.0f', next))
  redis.call('INCR', chg)
  redis.call('SET', k, v)
  redis.call('ZADD', idx, 0, m)
  if x == '' then
    redis.call('ZREM', exp, m)
  else
    redis.call('ZADD', exp, x, m)
    if hint_ok() then redis.call('PEXPIREAT', k, string.format('%d', tonumber(x) + 60000)) end
  end
end
local function del(m)
  redis.call('DEL', pre .. m)
  redis.call('ZREM', idx, m)
  redis.call('ZREM', exp, m)
  redis.call('HDEL', ver, m)
  redis.call('INCR', chg)
end
`;

// Value, expiry, version triples of the keys ARGV[from..] (nil, nil, nil for a missing or
// expired key; a nil version for a key written before versions existed).
const READ = `
local function read(from)
  local out = {}
  for j = from, #ARGV do
    local v, x = live(ARGV[j])
    out[#out + 1] = v
    out[#out + 1] = (v and x) or false
    out[#out + 1] = v and redis.call('HGET', ver, ARGV[j]) or false
  end
  return out
end
`;

/** ARGV[3..]: keys. Returns their triples (see READ). */
const GET = `
return read(3)
`;

/**
 * Opens a write transaction: takes the shard's lock (KEYS[5] = the token ARGV[3], expiring
 * after ARGV[4] ms, so a crashed holder's lock goes away) unless another writer holds it, then
 * reads the keys ARGV[5..] under it. Returns their triples (see READ), or nil (taking and
 * reading nothing) while the lock is held.
 */
const BEGIN = `
if not redis.call('SET', lock, ARGV[3], 'NX', 'PX', tonumber(ARGV[4])) then return false end
return read(5)
`;

/**
 * Commits a write transaction: if the lock still holds the token ARGV[3], writes the ops of
 * ARGV[4..] (as in WRITE, no checks) and deletes the lock; returns 1. Returns 0, writing
 * nothing, when the lock expired (or was taken by another writer since).
 */
const COMMIT = `
if redis.call('GET', lock) ~= ARGV[3] then return 0 end
for k = 4, #ARGV, 5 do
  if ARGV[k] == 's' then put(ARGV[k + 1], ARGV[k + 2], ARGV[k + 3], ARGV[k + 4]) else del(ARGV[k + 1]) end
end
redis.call('DEL', lock)
return 1
`;

/**
 * Renews a write transaction's lease: if the lock still holds the token ARGV[3], it expires
 * ARGV[4] ms from now; returns 1, else 0 (the lock expired or was taken by another writer).
 */
const RENEW = `
if redis.call('GET', lock) ~= ARGV[3] then return 0 end
redis.call('PEXPIRE', lock, tonumber(ARGV[4]))
return 1
`;

/** Ends a write transaction without writing: deletes the lock if it still holds ARGV[3]. */
const RELEASE = `
if redis.call('GET', lock) == ARGV[3] then redis.call('DEL', lock) end
return 1
`;

/**
 * An atomic group of writes, made only if the keys it depends on are unchanged. ARGV[3]: the
 * number of checks, then per check: key, "1" if it was live ("0" if not), its value, its
 * expiry ("" for none), its version ("" or "0" for none: then, as in `matches()`, versions
 * are not compared); then per write: op ("s" set, "d" delete), key, value, expiry ("" for
 * none), proposed version ("" for none). Returns 1 when written, 0 (writing nothing) when a
 * checked key changed, -1 (writing nothing) while another writer holds the shard's lock.
 */
const WRITE = `
if locked() then return -1 end
local j = 4
for _ = 1, tonumber(ARGV[3]) do
  local v, x = live(ARGV[j])
  if ARGV[j + 1] == '0' then
    if v then return 0 end
  elseif v ~= ARGV[j + 2] or (x and tonumber(x) or -1) ~= (ARGV[j + 3] == '' and -1 or tonumber(ARGV[j + 3])) then
    return 0
  else
    local want, have = tonumber(ARGV[j + 4]) or 0, version(ARGV[j])
    if want ~= 0 and have ~= 0 and want ~= have then return 0 end
  end
  j = j + 5
end
for k = j, #ARGV, 5 do
  if ARGV[k] == 's' then put(ARGV[k + 1], ARGV[k + 2], ARGV[k + 3], ARGV[k + 4]) else del(ARGV[k + 1]) end
end
return 1
`;

/** ARGV[3..]: keys. Deletes them; returns how many were live (-1, deleting nothing: locked). */
const REMOVE = `
if locked() then return -1 end
local n = 0
for j = 3, #ARGV do
  if live(ARGV[j]) then n = n + 1 end
  del(ARGV[j])
end
return n
`;

/**
 * Live keys of a lex range. ARGV[3] min, ARGV[4] max (ZRANGEBYLEX syntax), ARGV[5] "1" for
 * descending, ARGV[6] limit (0: none), ARGV[7] "1" for keys only, ARGV[8] "1" to add each
 * key's expiry ("" for none) after its value. Returns keys, or key, value (, expiry) tuples.
 * Index entries whose value expired (logically, or by the Redis hint) are removed on the way,
 * unless the shard is locked.
 */
const RANGE = `
local min, max, rev, limit, keys_only = ARGV[3], ARGV[4], ARGV[5] == '1', tonumber(ARGV[6]), ARGV[7] == '1'
local with_expiry = ARGV[8] == '1'
local out, n = {}, 0
while limit == 0 or n < limit do
  local want = 512
  if limit > 0 and limit - n < want then want = limit - n end
  local ms
  if rev then
    ms = redis.call('ZREVRANGEBYLEX', idx, max, min, 'LIMIT', 0, want)
  else
    ms = redis.call('ZRANGEBYLEX', idx, min, max, 'LIMIT', 0, want)
  end
  for _, m in ipairs(ms) do
    local v, x = live(m)
    if v then
      n = n + 1
      out[#out + 1] = m
      if not keys_only then out[#out + 1] = v end
      if with_expiry then out[#out + 1] = x or '' end
    elseif not locked() then
      del(m)
    end
  end
  if #ms < want then break end
  if rev then max = '(' .. ms[#ms] else min = '(' .. ms[#ms] end
end
return out
`;

/** ARGV[3]: most keys to remove. Removes expired keys; returns how many (-1: locked). */
const SWEEP = `
if locked() then return -1 end
local ms = redis.call('ZRANGEBYSCORE', exp, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(ms) do del(m) end
return #ms
`;

/** ARGV[3]: most keys to remove. Deletes keys of the shard; returns how many are left. */
const DROP = `
local ms = redis.call('ZRANGE', idx, 0, tonumber(ARGV[3]) - 1)
for _, m in ipairs(ms) do del(m) end
local left = redis.call('ZCARD', idx)
if left == 0 then redis.call('DEL', idx, exp, ver, chg, lock) end
return left
`;

/** Scripts run per shard, by name. */
export const SHARD_SCRIPTS = {
  skvGet: PRELUDE + READ + GET,
  skvBegin: PRELUDE + READ + BEGIN,
  skvCommit: PRELUDE + COMMIT,
  skvRelease: PRELUDE + RELEASE,
  skvRenew: PRELUDE + RENEW,
  skvWrite: PRELUDE + WRITE,
  skvRemove: PRELUDE + REMOVE,
  skvRange: PRELUDE + RANGE,
  skvSweep: PRELUDE + SWEEP,
  skvDrop: PRELUDE + DROP,
} as const;

export type ShardScript = keyof typeof SHARD_SCRIPTS;

/**
 * Scripts of a store's commit journal (see _redis_journal.ts): KEYS[1] = its hash of records,
 * KEYS[2] = its generation counter. `skvJournalWrite` stores the record ARGV[2] under ARGV[1]
 * and then bumps the generation; `skvJournalRelease` renames the record ARGV[1] to ARGV[2];
 * `skvJournalState` returns the generation followed by every record name, read together (a
 * script runs atomically).
 */
export const JOURNAL_SCRIPTS = {
  skvJournalWrite: `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[2])
`,
  skvJournalRelease: `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  redis.call('HSET', KEYS[1], ARGV[2], v)
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
`,
  skvJournalState: `
local out = redis.call('HKEYS', KEYS[1])
table.insert(out, 1, redis.call('GET', KEYS[2]) or '0')
return out
`,
} as const;

export type JournalScript = keyof typeof JOURNAL_SCRIPTS;

/**
 * The store manifest, a hash at KEYS[1]: created from ARGV (format, backend, shards, hash)
 * unless it exists; returns its format, backend, shards and hash.
 */
export const MANIFEST_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'format', ARGV[1], 'backend', ARGV[2], 'shards', ARGV[3], 'hash', ARGV[4])
end
return redis.call('HMGET', KEYS[1], 'format', 'backend', 'shards', 'hash')
`;
