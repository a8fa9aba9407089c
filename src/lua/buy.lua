-- Sell one ticket, exactly: never past the total (sold < total; the
-- seed's total >= sold sold one too many), and at most per_user_limit
-- to a user.  With a user, the same call creates the order and appends
-- its "created" event, so a deduction without its order cannot happen.
-- Everything is checked before anything is written, because Redis does
-- not roll a script back.
--
-- KEYS[1]  the stock hash
-- KEYS[2]  this request's key: remembers what the request bought, so
--          that a retry of it (nginx resending it to another instance)
--          is answered with the same ticket instead of a second one
-- KEYS[3]  the events stream
-- ARGV[1]  total field          ARGV[2]  sold field
-- ARGV[3]  seconds to remember the request key
-- ARGV[4]  key prefix (the stock key)
-- ARGV[5]  user, or "" for an anonymous purchase
-- ARGV[6]  this instance's address
-- ARGV[7]  pay timeout, milliseconds
-- ARGV[8]  per-user limit
--
-- Returns {status, total, sold, order, pay_by}: status 1 sold now,
-- 2 this request or this user had bought already (order and pay_by are
-- theirs), 0 sold out, -1 no sale (hash missing or not numbers).

local prefix, user = ARGV[4], ARGV[5]

local function stock()
	local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
	return tonumber(v[1]), tonumber(v[2])
end

local function answer_order(status, id)
	local total, sold = stock()
	local pay_by = redis.call('HGET', prefix .. ':order:' .. id, 'pay_by')
	return {status, total or 0, sold or 0, id, tonumber(pay_by) or 0}
end

local before = redis.call('GET', KEYS[2])
if before then
	if before == '' then
		local total, sold = stock()
		return {2, total or 0, sold or 0, '', 0}
	end
	return answer_order(2, before)
end

local active = prefix .. ':user:' .. user
if user ~= '' and redis.call('ZCARD', active) >= tonumber(ARGV[8]) then
	return answer_order(2, redis.call('ZREVRANGE', active, 0, 0)[1])
end

local total, sold = stock()
if total == nil or sold == nil then
	return {-1, 0, 0, '', 0}
end
if sold >= total then
	return {0, total, sold, '', 0}
end

sold = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
if user == '' then
	redis.call('INCR', prefix .. ':anonymous')
	redis.call('SET', KEYS[2], '', 'EX', ARGV[3])
	return {1, total, sold, '', 0}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pay_by = now + tonumber(ARGV[7])
local id = tostring(redis.call('INCR', prefix .. ':order_seq'))
redis.call('HSET', prefix .. ':order:' .. id, 'user', user,
	'instance', ARGV[6], 'created', now, 'pay_by', pay_by,
	'status', 'pending')
redis.call('ZADD', prefix .. ':pending', pay_by, id)
redis.call('ZADD', active, now, id)
redis.call('SET', prefix .. ':last:' .. user, id)
redis.call('XADD', KEYS[3], '*', 'event', 'created', 'order', id,
	'user', user, 'instance', ARGV[6], 'pay_by', pay_by)
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
return {1, total, sold, id, pay_by}
