-- Pay a pending order, only before its pay-by time and only for its own
-- user.  Paying is final: the order leaves the pending set, so it can no
-- longer expire.  A payment that comes too late is refused and never
-- takes a returned ticket back out of stock; the order expires instead.
-- KEY:paid counts the sale's payments, so that its books stay right once
-- a paid order is removed, the retention after it was paid (PEXPIRE); it
-- stays in its user's set, which keeps counting it against the limit.
--
-- KEYS[1]  the item's pending orders (sorted set)
-- KEYS[2]  the events stream
-- ARGV[1]  key prefix (the item's key)
-- ARGV[2]  user                              ARGV[3]  order id
-- ARGV[4]  how long an ended order is kept, milliseconds
-- ARGV[5]  about how many entries the events stream keeps (MAXLEN ~)
-- ARGV[6]  the item's name, for the event
--
-- Returns {status, pay_by}: status 1 paid now, 2 paid before, -7 no such
-- order of this user's (none at all, or another user's: the two answers
-- must not differ, or anyone could tell which ids exist), -9 past its
-- pay-by time or expired.

local key = ARGV[1] .. ':order:' .. ARGV[3]
local o = redis.call('HMGET', key, 'user', 'status', 'pay_by')
if o[1] ~= ARGV[2] then
	return {-7, 0}
end
local pay_by = tonumber(o[3]) or 0
if o[2] == 'paid' then
	-- Written again for WAIT (see buy.lua, repeat_of): the payment
	-- this repeats may be another link's, not yet on a replica.
	redis.call('HSET', key, 'status', 'paid')
	return {2, pay_by}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if o[2] ~= 'pending' or now > pay_by then
	return {-9, pay_by}
end

redis.call('HSET', key, 'status', 'paid', 'ended', now)
redis.call('PEXPIRE', key, ARGV[4])
redis.call('ZREM', KEYS[1], ARGV[3])
-- A sale opened before the counter existed is counted by its orders.
if redis.call('GET', ARGV[1] .. ':paid') then
	redis.call('INCR', ARGV[1] .. ':paid')
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', 'paid',
	'order', ARGV[3], 'user', ARGV[2], 'item', ARGV[6])
return {1, pay_by}
