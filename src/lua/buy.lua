-- Sell tickets to a batch of purchases that reached one instance at the
-- same moment (group commit), each exactly as if it ran alone, in order:
-- never past the total (sold < total; the seed's total >= sold sold one
-- too many), and at most per_user_limit to a user.  With a user, the
-- same call creates the order and appends its "created" event, so a
-- deduction without its order cannot happen.  Each purchase is checked
-- before anything of it is written, because Redis does not roll a
-- script back.
--
-- KEYS[1]    the stock hash          KEYS[2]  the events stream
-- KEYS[2+i]  purchase i's request key, KEY:req:USER:ID: remembers what
--            the request bought, so that a retry of it (nginx resending
--            it to another instance) gets the same ticket instead of a
--            second one; the user in it keeps another user's request with
--            the same id from being told of this one's ticket
-- ARGV[1]  total field               ARGV[2]  sold field
-- ARGV[3]  seconds to remember a request key
-- ARGV[4]  key prefix (the stock key)
-- ARGV[5]  this instance's address   ARGV[6]  pay timeout, milliseconds
-- ARGV[7]  per-user limit
-- ARGV[8]  about how many entries the events stream keeps (MAXLEN ~)
-- ARGV[9]  seconds to keep KEY:last:USER: the pay timeout and the
--          retention of an ended order, after which the order is gone
-- ARGV[9+i]  purchase i's user, or "" for an anonymous purchase
-- ARGV[9+n+i]  the id purchase i's order takes if it makes one: 32 hex
--            digits of random bits from the caller (n purchases)
--
-- Returns {status, order, pay_by, order_status} for each purchase, in
-- order: status 1 sold now, 2 this request or this user had bought
-- already (order, pay_by and order_status are that order's as it stands
-- now: pending, paid or expired), 0 sold out, -1 no sale (hash missing
-- or not numbers).  An anonymous purchase has order "" and order_status
-- "".

local prefix, instance = ARGV[4], ARGV[5]
local pay_timeout, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local max_len, last_ttl = ARGV[8], ARGV[9]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
local total, sold = tonumber(v[1]), tonumber(v[2])

-- An order gone from Redis was paid: retention removes ended orders,
-- expiry takes expired ones out of the user's set, and a request key
-- never outlives its order.
local function order_of(id)
	local o = redis.call('HMGET', prefix .. ':order:' .. id, 'pay_by',
		'status')
	return {2, id, tonumber(o[1]) or 0, o[2] or 'paid'}
end

local function create_order(user, request_key, id)
	local pay_by = now + pay_timeout
	redis.call('HSET', prefix .. ':order:' .. id, 'user', user,
		'instance', instance, 'created', now, 'pay_by', pay_by,
		'status', 'pending')
	redis.call('ZADD', prefix .. ':pending', pay_by, id)
	redis.call('ZADD', prefix .. ':user:' .. user, now, id)
	redis.call('SET', prefix .. ':last:' .. user, id, 'EX', last_ttl)
	redis.call('XADD', KEYS[2], 'MAXLEN', '~', max_len, '*',
		'event', 'created', 'order', id,
		'user', user, 'instance', instance, 'pay_by', pay_by)
	redis.call('SET', request_key, id, 'EX', ARGV[3])
	return {1, id, pay_by, 'pending'}
end

-- A repeat writes too (the request key, again), although it changes
-- nothing: WAIT after this call counts the replicas that have this
-- link's last write (from Redis 7.2; 7.0 also moves that offset on a
-- read), and a repeat that wrote nothing could be confirmed while the
-- order it reports, written by another instance's link, is not yet on a
-- replica.  The write puts the whole replication stream up to now under
-- the WAIT.
local function repeat_of(request_key, before)
	redis.call('SET', request_key, before, 'EX', ARGV[3])
	if before == '' then
		return {2, '', 0, ''}
	end
	return order_of(before)
end

local function buy(request_key, user, id)
	local before = redis.call('GET', request_key)
	if before then
		return repeat_of(request_key, before)
	end
	local active = prefix .. ':user:' .. user
	if user ~= '' and redis.call('ZCARD', active) >= limit then
		return repeat_of(request_key,
			redis.call('ZREVRANGE', active, 0, 0)[1])
	end
	if total == nil or sold == nil then
		return {-1, '', 0, ''}
	end
	if sold >= total then
		return {0, '', 0, ''}
	end
	sold = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
	if user ~= '' then
		return create_order(user, request_key, id)
	end
	redis.call('INCR', prefix .. ':anonymous')
	redis.call('SET', request_key, '', 'EX', ARGV[3])
	return {1, '', 0, ''}
end

local answers = {}
local n = #KEYS - 2
for i = 1, n do
	for _, v in ipairs(buy(KEYS[2 + i], ARGV[9 + i], ARGV[9 + n + i])) do
		answers[#answers + 1] = v
	end
end
return answers
