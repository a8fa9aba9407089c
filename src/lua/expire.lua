-- Expire the pending orders whose pay-by time has passed: mark each
-- "expired", put its ticket back on sale (sold - 1), let its user buy
-- again, and append an "expired" event.  The order itself is kept for
-- the retention, then Redis removes it (PEXPIRE).  An order leaves the
-- pending set in the same call that returns its ticket, so however many
-- instances run this at once, a ticket comes back once.
--
-- KEYS[1]  the stock hash        KEYS[2]  the pending orders (sorted set)
-- KEYS[3]  the events stream
-- ARGV[1]  sold field            ARGV[2]  key prefix (the stock key)
-- ARGV[3]  most orders to expire in one call
-- ARGV[4]  how long an ended order is kept, milliseconds
-- ARGV[5]  about how many entries the events stream keeps (MAXLEN ~)
--
-- Returns the number of orders expired.

local prefix = ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now,
	'LIMIT', 0, tonumber(ARGV[3]))

local expired = 0
for _, id in ipairs(due) do
	local key = prefix .. ':order:' .. id
	local o = redis.call('HMGET', key, 'user', 'status')
	redis.call('ZREM', KEYS[2], id)
	if o[2] == 'pending' then
		redis.call('HSET', key, 'status', 'expired', 'ended', now)
		redis.call('PEXPIRE', key, ARGV[4])
		redis.call('ZREM', prefix .. ':user:' .. o[1], id)
		redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
		redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
			'event', 'expired', 'order', id, 'user', o[1])
		expired = expired + 1
	end
end
return expired
