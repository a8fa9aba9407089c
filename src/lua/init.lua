-- Put an item's sale on (spikectl init), in two calls around a sweep of
-- its per-user keys.  ARGV[3] "close": refuse when the sale has sold
-- tickets and ARGV[4] is not "force", or when its times do not make a
-- sale; otherwise close it (total 0, sold 0, so nothing sells during
-- the sweep), end every pending order as expired (its ticket is not
-- returned: the count starts again, and the order is removed after the
-- retention) and drop the anonymous and paid counters.  ARGV[3] "open":
-- set the new total and the item's times, start KEY:paid, note in
-- KEY:opened when the sale opened (Redis's clock, milliseconds), which
-- tells spikectl audit this sale's orders from earlier ones, and put
-- the item in the registry D:items.  Both phases log the change
-- (D:seq, D:changes) for the instances' sync.
--
-- KEYS[1]  the item's hash K      KEYS[2]  K:pending
-- KEYS[3]  the events stream       KEYS[4]  K:anonymous
-- KEYS[5]  K:opened
-- ARGV[1]  total field             ARGV[2]  sold field
-- ARGV[3]  "close" or "open"       ARGV[4]  "force" or "", or the new total
-- ARGV[5]  K, the item's key prefix
-- ARGV[6]  how long an ended order is kept, milliseconds
-- ARGV[7]  about how many entries the events stream keeps (MAXLEN ~)
-- ARGV[8]  the item's name         ARGV[9]  D, the deployment's prefix
-- ARGV[10] start: "" (open from init), "+S" (S seconds from Redis's
--          now) or unix ms; "open" takes the ms "close" resolved
-- ARGV[11] end: "" (no end), "+S" or unix ms
-- ARGV[12] per-user limit, "" for spike.conf's
-- ARGV[13] how far in the past a start may be, ms
--
-- "close" returns {status, total, sold, ended, now, start_ms, end_ms}:
-- status 1 closed, 0 refused (sold is above 0 or not a number), -1
-- refused (the end is not after the start), -2 refused (the start is
-- in the past by more than ARGV[13]), -3 refused (the end is past);
-- total and sold as they were (strings, false when missing); ended the
-- pending orders ended; now Redis's clock; the times resolved.  "open"
-- returns 1.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local item, D = ARGV[8], ARGV[9]

local function logged()
	local s = redis.call('INCR', D .. ':seq')
	redis.call('ZADD', D .. ':changes', s, item)
end

-- A time of ARGV: 0 when empty, now + S s for "+S", else ms as given.
local function resolve(spec)
	if spec == '' then
		return 0
	end
	if string.sub(spec, 1, 1) == '+' then
		return now + tonumber(string.sub(spec, 2)) * 1000
	end
	return tonumber(spec)
end

if ARGV[3] == 'open' then
	local start_ms, end_ms = resolve(ARGV[10]), resolve(ARGV[11])
	redis.call('HSET', KEYS[1], ARGV[1], ARGV[4], ARGV[2], 0,
		'start_ms', start_ms, 'end_ms', end_ms, 'paused', 0)
	if ARGV[12] == '' then
		redis.call('HDEL', KEYS[1], 'per_user')
	else
		redis.call('HSET', KEYS[1], 'per_user', ARGV[12])
	end
	redis.call('SET', KEYS[5], now)
	redis.call('SET', ARGV[5] .. ':paid', 0)
	redis.call('ZADD', D .. ':items', start_ms, item)
	logged()
	return 1
end

local start_ms, end_ms = resolve(ARGV[10]), resolve(ARGV[11])
local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
local sold = v[2] and tonumber(v[2])
local live = v[2] and (sold == nil or sold > 0)
local status = 1
if ARGV[10] ~= '' and string.sub(ARGV[10], 1, 1) ~= '+' and
    start_ms < now - tonumber(ARGV[13]) then
	status = -2
elseif end_ms > 0 and end_ms <= start_ms then
	status = -1
elseif end_ms > 0 and end_ms <= now then
	status = -3
elseif live and ARGV[4] ~= 'force' then
	status = 0
end
if status ~= 1 then
	return {status, v[1], v[2], 0, now, start_ms, end_ms}
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
			'reason', 'reset', 'item', item)
	end
end
redis.call('DEL', KEYS[2], KEYS[4], ARGV[5] .. ':paid')
logged()
return {1, v[1], v[2], #pending, now, start_ms, end_ms}
