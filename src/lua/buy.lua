-- Sell tickets to a batch of purchases that reached one instance at the
-- same moment (group commit), each exactly as if it ran alone, in order:
-- never past its item's total (sold < total; the seed's total >= sold
-- sold one too many), and at most the item's per-user limit to a user.
-- A batch may mix items; each item's hash is read once per call.  With a
-- user, the same call creates the order and appends its "created" event,
-- so a deduction without its order cannot happen.  Each purchase is
-- checked before anything of it is written, because Redis does not roll
-- a script back.  A repeat (this request, or a user at the limit) is
-- answered before the item's schedule is looked at, so that a retry gets
-- its ticket even if the sale closed since; then paused, ended and not
-- yet started are refused by Redis's clock, then the stock.
--
-- KEYS[1]    the events stream
-- KEYS[1+i]  purchase i's request key, ITEMKEY:req:USER:ID: remembers
--            what the request bought, so that a retry of it (nginx
--            resending it to another instance) gets the same ticket
--            instead of a second one; the user in it keeps another user's
--            request with the same id from being told of this one's ticket
-- ARGV[1]  total field               ARGV[2]  sold field
-- ARGV[3]  seconds to remember a request key
-- ARGV[4]  the deployment's prefix (stock_key): PREFIX:seq,
--          PREFIX:changes (the change log) and PREFIX:due (the items
--          with pending orders, by their earliest pay-by time)
-- ARGV[5]  this instance's address   ARGV[6]  pay timeout, milliseconds
-- ARGV[7]  per-user limit of an item whose hash has no per_user field
-- ARGV[8]  about how many entries the events stream keeps (MAXLEN ~)
-- ARGV[9]  seconds to keep ITEMKEY:last:USER: the pay timeout and the
--          retention of an ended order, after which the order is gone
-- ARGV[9+i]  purchase i's user, or "" for an anonymous purchase
-- ARGV[9+n+i]  the id purchase i's order takes if it makes one: 32 hex
--            digits of random bits from the caller (n purchases)
-- ARGV[9+2n+i]  purchase i's item key (its hash, prefix of its keys)
-- ARGV[9+3n+i]  purchase i's item name
--
-- Returns {status, order, pay_by, order_status} for each purchase, in
-- order: status 1 sold now, 2 this request or this user had bought
-- already (order, pay_by and order_status are that order's as it stands
-- now: pending, paid or expired), 0 sold out, -1 no sale (hash missing
-- or not numbers), -2 not started (pay_by is then the item's start_ms),
-- -3 closed (paused, or at or past its end_ms).  An anonymous purchase
-- has order "" and order_status "".

local deploy, instance = ARGV[4], ARGV[5]
local pay_timeout, default_limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local max_len, last_ttl = ARGV[8], ARGV[9]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- The items of this call, each read once, in the order first met.
local items, met = {}, {}

local function item_of(key, name)
	local it = items[key]
	if it then
		return it
	end
	local v = redis.call('HMGET', key, ARGV[1], ARGV[2], 'start_ms',
		'end_ms', 'paused', 'per_user')
	it = {key = key, name = name, total = tonumber(v[1]),
		sold = tonumber(v[2]), start_ms = tonumber(v[3]) or 0,
		end_ms = tonumber(v[4]) or 0, paused = v[5] == '1',
		limit = math.max(1, tonumber(v[6]) or default_limit),
		changed = false}
	items[key] = it
	met[#met + 1] = it
	return it
end

-- An order gone from Redis was paid: retention removes ended orders,
-- expiry takes expired ones out of the user's set, and a request key
-- never outlives its order.
local function order_of(it, id)
	local o = redis.call('HMGET', it.key .. ':order:' .. id, 'pay_by',
		'status')
	return {2, id, tonumber(o[1]) or 0, o[2] or 'paid'}
end

local function create_order(it, user, request_key, id)
	local pay_by = now + pay_timeout
	redis.call('HSET', it.key .. ':order:' .. id, 'user', user,
		'instance', instance, 'created', now, 'pay_by', pay_by,
		'status', 'pending')
	redis.call('ZADD', it.key .. ':pending', pay_by, id)
	it.due = pay_by
	redis.call('ZADD', it.key .. ':user:' .. user, now, id)
	redis.call('SET', it.key .. ':last:' .. user, id, 'EX', last_ttl)
	redis.call('XADD', KEYS[1], 'MAXLEN', '~', max_len, '*',
		'event', 'created', 'order', id, 'user', user,
		'instance', instance, 'pay_by', pay_by, 'item', it.name)
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
local function repeat_of(it, request_key, before)
	redis.call('SET', request_key, before, 'EX', ARGV[3])
	if before == '' then
		return {2, '', 0, ''}
	end
	return order_of(it, before)
end

-- Why the item sells nothing now by Redis's clock, or nil when open.
local function refusal(it)
	if it.total == nil or it.sold == nil then
		return {-1, '', 0, ''}
	end
	if it.paused or (it.end_ms > 0 and now >= it.end_ms) then
		return {-3, '', 0, ''}
	end
	if now < it.start_ms then
		return {-2, '', it.start_ms, ''}
	end
	return nil
end

local function buy(it, request_key, user, id)
	local before = redis.call('GET', request_key)
	if before then
		return repeat_of(it, request_key, before)
	end
	local active = it.key .. ':user:' .. user
	if user ~= '' and redis.call('ZCARD', active) >= it.limit then
		return repeat_of(it, request_key,
			redis.call('ZREVRANGE', active, 0, 0)[1])
	end
	local refused = refusal(it)
	if refused then
		return refused
	end
	if it.sold >= it.total then
		return {0, '', 0, ''}
	end
	it.sold = redis.call('HINCRBY', it.key, ARGV[2], 1)
	it.changed = true
	if user ~= '' then
		return create_order(it, user, request_key, id)
	end
	redis.call('INCR', it.key .. ':anonymous')
	redis.call('SET', request_key, '', 'EX', ARGV[3])
	return {1, '', 0, ''}
end

local answers = {}
local n = #KEYS - 1
for i = 1, n do
	local it = item_of(ARGV[9 + 2 * n + i], ARGV[9 + 3 * n + i])
	for _, v in ipairs(buy(it, KEYS[1 + i], ARGV[9 + i],
	    ARGV[9 + n + i])) do
		answers[#answers + 1] = v
	end
end
-- The change log, once per item that sold in this call (the sync reads
-- what changed since it last looked), and the item's earliest pay-by
-- time for expiry: every order of this call has the same.
for _, it in ipairs(met) do
	if it.changed then
		local s = redis.call('INCR', deploy .. ':seq')
		redis.call('ZADD', deploy .. ':changes', s, it.name)
	end
	if it.due then
		redis.call('ZADD', deploy .. ':due', 'LT', it.due, it.name)
	end
end
return answers
