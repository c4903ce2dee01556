package redisquota

import "github.com/redis/go-redis/v9"

// The scripts read Redis's clock (TIME), so that every replica measures
// the quota on one clock, whatever their own clocks' skew. Times are in
// microseconds; TAT is GCRA's theoretical arrival time. string.format
// '%.0f' keeps a time's digits (Lua's tostring would print 1.7e+15).

// takeScript checks the bans and reserves turns of the app's quota, for a
// batch of callers in one round trip.
//
// KEYS[1] the quota's TAT, KEYS[2] the app ban, KEYS[3..] API bans.
// ARGV[1] emission interval, ARGV[2] burst tolerance (both µs), then one
// pair per caller: the index in KEYS of its API ban, and the longest wait
// it accepts (µs; negative: the caller only checks the bans, and takes no
// turn).
//
// Returns, for each ban key (2..#KEYS), its value ("" when none) and its
// PTTL; then per caller the wait before its turn (µs, >= 0; 0 for a
// caller that only checks), -1 when a ban covers it or -2 when its turn
// would come after its longest wait (no turn is taken in either case).
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local out = {}
local banned = {}
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    out[#out + 1] = v
    out[#out + 1] = redis.call('PTTL', KEYS[i])
    banned[i] = true
  else
    out[#out + 1] = ''
    out[#out + 1] = -2
  end
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local taken = false
for j = 3, #ARGV, 2 do
  local k = tonumber(ARGV[j])
  if banned[2] or banned[k] then
    out[#out + 1] = -1
  elseif tonumber(ARGV[j + 1]) < 0 then
    out[#out + 1] = 0
  else
    local wait = tat - tolerance - now
    if wait < 0 then wait = 0 end
    if wait > tonumber(ARGV[j + 1]) then
      out[#out + 1] = -2
    else
      out[#out + 1] = wait
      tat = tat + interval
      taken = true
    end
  end
end
if taken then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return out
`)

// allowScript takes one turn of a caller's rate limit, GCRA without
// waiting: KEYS[1] the caller's TAT; ARGV[1] emission interval, ARGV[2]
// burst tolerance (µs). Returns 0 when the turn is taken, else the wait
// until there is one (µs).
var allowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[2]) - now
if wait > 0 then return math.ceil(wait) end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return 0
`)

// banScript records a ban unless one lasting longer is in force, and
// then publishes it: KEYS[1] the ban; ARGV[1] the ban (JSON), ARGV[2] its
// length (ms), ARGV[3] the channel. Returns the ban in force and its
// PTTL.
var banScript = redis.NewScript(`
local ttl = tonumber(ARGV[2])
local old = redis.call('PTTL', KEYS[1])
if old >= ttl then
  return {redis.call('GET', KEYS[1]), old}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('PUBLISH', ARGV[3], ARGV[1])
return {ARGV[1], ttl}
`)

// replicasScript renews this replica's heartbeat and counts the live
// ones: KEYS[1] the set of replicas (score: when the heartbeat expires,
// ms); ARGV[1] this replica's id, ARGV[2] the heartbeat's length (ms).
var replicasScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])
`)
