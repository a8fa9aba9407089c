-- Put a sale on (spikectl init), in two calls around a sweep of the
-- per-user keys.  ARGV[3] "close": refuse when the sale has sold tickets
-- and ARGV[4] is not "force"; otherwise close the sale (total 0, sold 0,
-- so nothing sells during the sweep), end every pending order as
-- expired (its ticket is not returned: the count starts again, and the
-- order is removed after the retention) and drop the anonymous and paid
-- counters.  ARGV[3] "open": set the new total, start KEY:paid, and note
-- in KEY:opened when the sale opened (Redis's clock, milliseconds), which
-- tells spikectl audit this sale's orders from earlier ones.
--
-- KEYS[1]  the stock hash          KEYS[2]  the pending orders (sorted set)
-- KEYS[3]  the events stream       KEYS[4]  the anonymous sales counter
-- KEYS[5]  KEY:opened
-- ARGV[1]  total field             ARGV[2]  sold field
-- ARGV[3]  "close" or "open"       ARGV[4]  "force" or "", or the new total
-- ARGV[5]  key prefix (the stock key)
-- ARGV[6]  how long an ended order is kept, milliseconds
-- ARGV[7]  about how many entries the events stream keeps (MAXLEN ~)
--
-- "close" returns {status, total, sold, ended, now}: status 1 closed, 0
-- refused (sold is above 0 or not a number); total and sold as they
-- were (strings, false when missing); ended the pending orders ended;
-- now Redis's clock.  "open" returns 1.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if ARGV[3] == 'open' then
	redis.call('HSET', KEYS[1], ARGV[1], ARGV[4], ARGV[2], 0)
	redis.call('SET', KEYS[5], now)
	redis.call('SET', ARGV[5] .. ':paid', 0)
	return 1
end

local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
local sold = v[2] and tonumber(v[2])
local live = v[2] and (sold == nil or sold > 0)
if live and ARGV[4] ~= 'force' then
	return {0, v[1], v[2], 0, now}
end

redis.call('HSET', KEYS[1], ARGV[1], 0, ARGV[2], 0)
local pending = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, id in ipairs(pending) do
	local key = ARGV[5] .. ':order:' .. id
	local o = redis.call('HMGET', key, 'user', 'status')
	if o[2] == 'pending' then
		redis.call('HSET', key, 'status', 'expired', 'ended', now)
		redis.call('PEXPIRE', key, ARGV[6])
		redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*',
			'event', 'expired', 'order', id, 'user', o[1] or '',
			'reason', 'reset')
	end
end
redis.call('DEL', KEYS[2], KEYS[4], ARGV[5] .. ':paid')
return {1, v[1], v[2], #pending, now}
