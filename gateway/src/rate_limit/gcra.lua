-- GCRA (the generic cell rate algorithm) over one or two keys, decided together: a request
-- passes only if every key has room, and only a request that passes is charged, so a client
-- held back by one limit does not use up the other.
--
-- KEYS[i]: one limit's key, holding its theoretical arrival time (TAT) in microseconds.
-- ARGV[2i-1]: that limit's emission interval in microseconds (one request's cost).
-- ARGV[2i]: its burst (how many requests may arrive at once).
--
-- Returns {allowed (0|1), limit, remaining, reset_ms, retry_after_ms}, where limit, remaining
-- and reset describe the tightest key: the one with the fewest requests left.
--
-- Redis's own clock keeps every gateway instance on one time line. Numbers stay below 2^53
-- (microseconds since 1970 are about 2^51), so Lua's doubles hold them exactly.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local allowed = 1
local limit, remaining, reset, retry_after = 0, -1, 0, 0
local next_tats = {}

for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then
    tat = now
  end
  local next_tat = tat + interval
  -- The request may pass once no more than `burst` intervals are booked ahead of now.
  local allow_at = next_tat - burst * interval
  local key_remaining, key_reset
  if now < allow_at then
    allowed = 0
    retry_after = math.max(retry_after, allow_at - now)
    key_remaining = 0
    key_reset = tat - now
  else
    key_remaining = math.floor((now - allow_at) / interval)
    key_reset = next_tat - now
  end
  next_tats[i] = next_tat
  if remaining < 0 or key_remaining < remaining then
    limit, remaining, reset = burst, key_remaining, key_reset
  end
end

if allowed == 1 then
  for i, key in ipairs(KEYS) do
    -- The key is worth keeping only until its bucket would be full again. '%d' writes every
    -- digit, where a plain number might be written in exponent form.
    local ttl_ms = math.ceil((next_tats[i] - now) / 1000)
    redis.call('SET', key, string.format('%d', next_tats[i]), 'PX', ttl_ms)
  end
end

return {allowed, limit, remaining, math.ceil(reset / 1000), math.ceil(retry_after / 1000)}
