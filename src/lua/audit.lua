#!lua flags=no-writes
-- Check the sale's books (spikectl audit) at one instant: the script
-- only reads, and runs whole, so a purchase cannot land half-way through
-- the count.  The sale is what was sold since spikectl init opened it
-- (KEY:opened, Redis's clock in milliseconds): orders created before it
-- and events older than it belong to an earlier sale and are not
-- checked.  Without KEY:opened every order and event is.
--
-- Retention removes what this reads (spike-fcgi(8), "Redis layout"): a
-- paid or expired order goes order_retention_s after it ended, so KEY:paid
-- counts the payments for the stock's sum, a created event whose order is
-- gone must have the event that ended it, and a paid order still in its
-- user's set (which keeps counting it against the limit) needs its paid
-- event; the stream is capped (XADD MAXLEN ~), so once it holds
-- events_max_len entries, events older than its first entry may have
-- been trimmed and are not required of the orders made or ended before.
--
-- KEYS[1]  the stock hash          KEYS[2]  the events stream
-- KEYS[3]  the pending orders      KEYS[4]  the anonymous sales counter
-- KEYS[5]  KEY:opened
-- ARGV[1]  total field             ARGV[2]  sold field
-- ARGV[3]  key prefix (the stock key)
-- ARGV[4]  per-user limit (spike.conf's; the item's per_user first)
-- ARGV[5]  grace past pay_by, ms
-- ARGV[6]  most items listed of each kind of violation
-- ARGV[7]  SCAN pattern of the order hashes (KEY:order:*, glob-quoted)
-- ARGV[8]  SCAN pattern of the users' active orders (KEY:user:*)
-- ARGV[9]  events_max_len, the stream's cap
-- ARGV[10] the item's name: the stream is shared by every item, and an
--          entry without an "item" field is the default item's
-- ARGV[11] "1" when the item is the default item, else "0"
--
-- Returns {exists, now, opened, total, sold, pending, paid, expired,
-- anonymous, orders, earlier, events, {kind, count, {item...}}...}:
-- exists 0 when the stock hash is missing (nothing else follows); total
-- and sold as stored ("" when missing); orders counted by status, paid
-- by KEY:paid when the sale has it (orders kept or not); earlier
-- the orders of an earlier sale; events those of this sale; then one
-- entry per kind of violation, with every one counted and the first
-- ARGV[6] described.

local prefix = ARGV[3]
-- The item's own per-user limit when it has one.
local limit = tonumber(redis.call('HGET', KEYS[1], 'per_user') or ARGV[4])
local grace, cap = tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
if not v[1] and not v[2] then
	return {0, now}
end
local opened = tonumber(redis.call('GET', KEYS[5])) or 0

local kinds = {'stock-hash', 'oversold', 'sold-mismatch', 'bad-status',
	'no-created-event', 'no-paid-event', 'no-expired-event',
	'event-without-order', 'over-limit', 'user-set', 'pending-set',
	'overdue'}
local found = {}
for _, k in ipairs(kinds) do
	found[k] = {k, 0, {}}
end

local function violation(kind, text)
	local f = found[kind]
	f[2] = f[2] + 1
	if f[2] <= cap then
		f[3][#f[3] + 1] = text
	end
end

local function int(n)
	return string.format('%d', n)
end

-- Call fn once for each key matching pattern (SCAN may repeat a key).
local function each_key(pattern, fn)
	local cursor, seen = '0', {}
	repeat
		local r = redis.call('SCAN', cursor, 'MATCH', pattern,
			'COUNT', 1000)
		cursor = r[1]
		for _, key in ipairs(r[2]) do
			if not seen[key] then
				seen[key] = true
				fn(key)
			end
		end
	until cursor == '0'
end

-- Until when events may have been trimmed away: 0 while the stream is
-- below its cap, else the time of its first entry.
local trimmed = 0
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[9]) then
	local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
	trimmed = tonumber(string.match(first[1], '^(%d+)'))
end

-- The orders each kind of event of this sale names.
local events = {created = {}, paid = {}, expired = {}}
local nevents = 0
local from = opened > 0 and (int(opened) .. '-0') or '-'
repeat
	local batch = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', 1000)
	for _, e in ipairs(batch) do
		local f, kind, order, item = e[2], nil, nil, nil
		for i = 1, #f - 1, 2 do
			if f[i] == 'event' then
				kind = f[i + 1]
			elseif f[i] == 'order' then
				order = f[i + 1]
			elseif f[i] == 'item' then
				item = f[i + 1]
			end
		end
		if item == ARGV[10] or (item == nil and ARGV[11] == '1') then
			if kind and order and events[kind] then
				events[kind][order] = true
			end
			nevents = nevents + 1
		end
		from = '(' .. e[1]
	end
until #batch < 1000

-- The pending set and the users' sets of active orders, read whole
-- once: a lookup per order would cost a call each.
local pending_set = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
	pending_set[id] = true
end
local set_of = {}	-- order id: the KEY:user:USER that holds it
local made = {}		-- order id: when it was made, its score there
each_key(ARGV[8], function(key)
	local r = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
	for i = 1, #r - 1, 2 do
		local id = r[i]
		made[id] = tonumber(r[i + 1])
		if set_of[id] then
			violation('user-set', key .. ': ' .. id ..
				', also in ' .. set_of[id])
		end
		set_of[id] = key
	end
end)

-- The orders of this sale, each checked against the events and sets.
local count = {pending = 0, paid = 0, expired = 0}
local status_of, active = {}, {}
local norders, earlier = 0, 0

local function check_order(key, id, user, status, o)
	local pay_by, created = tonumber(o[4]), tonumber(o[3]) or 0
	if count[status] then
		count[status] = count[status] + 1
	else
		violation('bad-status', key .. ': status ' .. status)
	end
	if not events.created[id] and created > trimmed then
		violation('no-created-event', key)
	end
	if (status == 'paid' or status == 'expired') and
	    not events[status][id] and (tonumber(o[5]) or 0) > trimmed then
		violation('no-' .. status .. '-event', key)
	end
	if (status == 'pending') ~= (pending_set[id] == true) then
		violation('pending-set', key .. ': status ' .. status ..
			(pending_set[id] and ', in ' or ', not in ') .. KEYS[3])
	end
	if status == 'pending' and (pay_by or 0) + grace < now then
		violation('overdue', key .. ': pending ' ..
			int(now - (pay_by or 0)) .. ' ms past pay_by')
	end
	local set = prefix .. ':user:' .. user
	if status ~= 'pending' and status ~= 'paid' then
		if set_of[id] then
			violation('user-set', set_of[id] .. ': ' .. id ..
				' is ' .. status)
		end
		return
	end
	active[user] = (active[user] or 0) + 1
	if set_of[id] ~= set then
		violation('user-set', key .. ': ' .. status .. ', not in ' ..
			set)
	end
end

each_key(ARGV[7], function(key)
	local id = string.sub(key, #prefix + 8)
	local o = redis.call('HMGET', key, 'user', 'status', 'created',
		'pay_by', 'ended')
	local created = tonumber(o[3])
	if created and created < opened then
		earlier = earlier + 1
		return
	end
	norders = norders + 1
	status_of[id] = o[2] or 'missing'
	check_order(key, id, o[1] or '', status_of[id], o)
end)

for id in pairs(events.created) do
	if not status_of[id] and not events.paid[id] and
	    not events.expired[id] then
		violation('event-without-order', KEYS[2] .. ': created ' .. id
			.. ', no ' .. prefix .. ':order:' .. id)
	end
end
for id in pairs(pending_set) do
	if not status_of[id] then
		violation('pending-set', KEYS[3] .. ': ' .. id ..
			', no order of this sale')
	end
end
-- A paid order removed after the retention stays in its user's set,
-- and still counts against the limit.
for id, set in pairs(set_of) do
	if not status_of[id] and (made[id] or 0) >= opened then
		local user = string.sub(set, #prefix + 7)
		active[user] = (active[user] or 0) + 1
		if not events.paid[id] and (made[id] or 0) > trimmed then
			violation('user-set', set .. ': ' .. id ..
				', no order of this sale')
		end
	end
end
for user, n in pairs(active) do
	if n > limit then
		violation('over-limit', 'user ' .. user .. ': ' .. int(n) ..
			' pending or paid orders, limit ' .. int(limit))
	end
end

-- The payments: KEY:paid, or the paid orders of a sale opened before
-- the counter was kept.
local paid_raw = redis.call('GET', prefix .. ':paid')
local paid = tonumber(paid_raw or count.paid)
if paid == nil or paid < count.paid then
	violation('sold-mismatch', prefix .. ':paid: ' .. (paid_raw or '') ..
		', below the ' .. int(count.paid) .. ' paid orders kept')
	paid = count.paid
end

-- The stock: sold within the total, and every sale accounted for.
local total, sold = tonumber(v[1]), tonumber(v[2])
local anonymous_raw = redis.call('GET', KEYS[4])
local anonymous = tonumber(anonymous_raw or '0')
if total == nil or sold == nil or anonymous == nil then
	for _, f in ipairs({{KEYS[1] .. ' ' .. ARGV[1], v[1], total},
	    {KEYS[1] .. ' ' .. ARGV[2], v[2], sold},
	    {KEYS[4], anonymous_raw, anonymous}}) do
		if f[3] == nil then
			violation('stock-hash', f[1] .. ': ' .. (f[2] and
				('"' .. f[2] .. '"') or 'missing') ..
				', not a whole number')
		end
	end
else
	if sold > total then
		violation('oversold', KEYS[1] .. ': sold ' .. int(sold) ..
			' > total ' .. int(total))
	end
	local sum = count.pending + paid + anonymous
	if sold ~= sum then
		violation('sold-mismatch', KEYS[1] .. ': sold ' .. int(sold)
			.. ' != pending ' .. int(count.pending) .. ' + paid '
			.. int(paid) .. ' + anonymous ' ..
			int(anonymous) .. ' = ' .. int(sum))
	end
end

local answer = {1, now, opened, v[1] or '', v[2] or '', count.pending,
	paid, count.expired, anonymous, norders, earlier, nevents}
for _, k in ipairs(kinds) do
	answer[#answer + 1] = found[k]
end
return answer
