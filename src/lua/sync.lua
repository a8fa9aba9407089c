-- One instance's periodic look at the sale: announce itself alive, and
-- read the stock and who else is alive, in one round trip.
--
-- KEYS[1]  the stock hash          KEYS[2]  the live-instances sorted set
-- ARGV[1]  total field             ARGV[2]  sold field
-- ARGV[3]  this instance's address ARGV[4]  liveness window, milliseconds
--
-- Returns {exists, total, sold, address...}: exists 1 when the hash holds
-- numbers, then the addresses heard from within the window.  Scores are
-- Redis' own clock, so instances on several hosts agree on who is alive.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[4])

redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 100 * window)
local live = redis.call('ZRANGEBYSCORE', KEYS[2], now - window, '+inf')

local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
local total, sold = tonumber(v[1]), tonumber(v[2])
local exists = 1
if total == nil or sold == nil then
	exists, total, sold = 0, 0, 0
end
local answer = {exists, total, sold}
for i = 1, #live do
	answer[#answer + 1] = live[i]
end
return answer
