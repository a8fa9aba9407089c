-- Expire the pending orders whose pay-by time has passed: mark each
-- "expired", put its ticket back on sale (sold - 1), let its user buy
-- again, and append an "expired" event naming its item.  The order
-- itself is kept for the retention, then Redis removes it (PEXPIRE).  An
-- order leaves the pending set in the same call that returns its ticket,
-- so however many instances run this at once, a ticket comes back once.
--
-- The items with orders due are found in the due set (D:due, member
-- item, score the earliest pay-by of its pending orders), so a call
-- walks only those.  The default item's pending set is looked at every
-- call too: its orders made before the due set existed have no entry.
-- An item that got tickets back is written to the change log.
--
-- KEYS[1]  the default item's hash  KEYS[2]  its pending orders
-- KEYS[3]  the events stream        KEYS[4]  the due set (D:due)
-- KEYS[5]  the change log (D:changes)   KEYS[6]  its counter (D:seq)
-- ARGV[1]  sold field            ARGV[2]  the default item's name
-- ARGV[3]  most orders to expire in one call
-- ARGV[4]  how long an ended order is kept, milliseconds
-- ARGV[5]  about how many entries the events stream keeps (MAXLEN ~)
--
-- Returns the number of orders expired.

local default = ARGV[2]
local budget = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Expire up to budget of item name's overdue orders under key prefix.
local function expire_item(name, prefix)
	local pending = prefix .. ':pending'
	local due = redis.call('ZRANGEBYSCORE', pending, '-inf', now,
		'LIMIT', 0, budget)
	local expired = 0
	for _, id in ipairs(due) do
		local key = prefix .. ':order:' .. id
		local o = redis.call('HMGET', key, 'user', 'status')
		redis.call('ZREM', pending, id)
		if o[2] == 'pending' then
			redis.call('HSET', key, 'status', 'expired', 'ended', now)
			redis.call('PEXPIRE', key, ARGV[4])
			redis.call('ZREM', prefix .. ':user:' .. o[1], id)
			redis.call('HINCRBY', prefix, ARGV[1], -1)
			redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
				'event', 'expired', 'order', id, 'user', o[1],
				'item', name)
			expired = expired + 1
		end
	end
	budget = budget - #due
	local first = redis.call('ZRANGE', pending, 0, 0, 'WITHSCORES')
	if first[2] then
		redis.call('ZADD', KEYS[4], first[2], name)
	else
		redis.call('ZREM', KEYS[4], name)
	end
	if expired > 0 then
		local s = redis.call('INCR', KEYS[6])
		redis.call('ZADD', KEYS[5], s, name)
	end
	return expired
end

local expired = expire_item(default, KEYS[1])
if budget > 0 then
	local items = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now,
		'LIMIT', 0, budget)
	for _, name in ipairs(items) do
		if budget <= 0 then
			break
		end
		if name ~= default then
			expired = expired + expire_item(name,
				KEYS[1] .. ':item:' .. name)
		end
	end
end
return expired
