-- One instance's periodic look at the sales: announce itself alive, and
-- read Redis's clock, who else is alive, the default item and the items
-- changed since the instance last looked, in one round trip.
--
-- KEYS[1]  the default item's hash  KEYS[2]  the live-instances sorted set
-- KEYS[3]  the change log (D:changes, member item, score its last D:seq)
-- KEYS[4]  the registry (D:items)   KEYS[5]  the change counter (D:seq)
-- ARGV[1]  total field              ARGV[2]  sold field
-- ARGV[3]  this instance's address  ARGV[4]  liveness window, milliseconds
-- ARGV[5]  the last change seen (a D:seq value; 0 for every item)
-- ARGV[6]  most changed items to read   ARGV[7]  the default item's name
--
-- Returns {exists, total, sold, start_ms, end_ms, paused, time_s,
-- time_us, seq, last, more, nlive, address... (nlive of them),
-- then per changed item: name, exists, total, sold, start_ms, end_ms,
-- paused}.  The first six are the default item's, read every time so
-- that a hash written by hand keeps selling.  last is the score of the
-- last change read (ARGV[5] when none), more is 1 when the log may hold
-- more past it.  An item named in the log but not in the registry is
-- skipped.  Reading from last costs O(log n) when nothing changed.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[4])
local default = ARGV[7]

redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 100 * window)
local live = redis.call('ZRANGEBYSCORE', KEYS[2], now - window, '+inf')

local function int(v)
	return math.floor(tonumber(v) or 0)
end

-- exists, total, sold, start_ms, end_ms, paused of the hash key
local function read(key)
	local v = redis.call('HMGET', key, ARGV[1], ARGV[2], 'start_ms',
		'end_ms', 'paused')
	local total, sold = tonumber(v[1]), tonumber(v[2])
	local exists = 1
	if total == nil or sold == nil then
		exists, total, sold = 0, 0, 0
	end
	return exists, total, sold, int(v[3]), int(v[4]),
		v[5] == '1' and 1 or 0
end

local seq = int(redis.call('GET', KEYS[5]))
local last = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local changed = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. last, '+inf',
	'WITHSCORES', 'LIMIT', 0, limit)

local answer = {read(KEYS[1])}
answer[7], answer[8], answer[9] = int(t[1]), int(t[2]), seq
local nchanged = #changed / 2
if nchanged > 0 then
	last = int(changed[#changed])
end
answer[10], answer[11] = last, nchanged >= limit and 1 or 0
answer[12] = #live
for i = 1, #live do
	answer[#answer + 1] = live[i]
end
for i = 1, #changed, 2 do
	local name = changed[i]
	if name == default or redis.call('ZSCORE', KEYS[4], name) then
		local key = KEYS[1]
		if name ~= default then
			key = KEYS[1] .. ':item:' .. name
		end
		local e, tot, s, st, en, p = read(key)
		answer[#answer + 1] = name
		for _, x in ipairs({e, tot, s, st, en, p}) do
			answer[#answer + 1] = x
		end
	end
end
return answer
