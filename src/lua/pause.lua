-- The operator's brake (spikectl pause, spikectl resume): set or clear
-- an item's "paused" field, for one item or for every item of the
-- registry D:items and the default item, and log each change (D:seq,
-- D:changes) so the instances' sync sees it.  An item already so is
-- left alone and not counted.
--
-- ARGV[1]  D, the deployment's prefix (the default item's name and key)
-- ARGV[2]  "1" pause, "0" resume
-- ARGV[3]  the item, or "" for all of them
-- ARGV[4]  total field (a default item's hash without it is no sale)
--
-- Returns the number of items changed, or -1 when the item named is
-- not on sale (not in D:items; the default item: not there and no hash).

local D, want, only = ARGV[1], ARGV[2], ARGV[3]

local function key_of(item)
	if item == D then
		return D
	end
	return D .. ':item:' .. item
end

local function known(item)
	if redis.call('ZSCORE', D .. ':items', item) then
		return true
	end
	return item == D and redis.call('HEXISTS', D, ARGV[4]) == 1
end

local function set(item)
	local key = key_of(item)
	local now = redis.call('HGET', key, 'paused') == '1' and '1' or '0'
	if now == want then
		return 0
	end
	redis.call('HSET', key, 'paused', want)
	local s = redis.call('INCR', D .. ':seq')
	redis.call('ZADD', D .. ':changes', s, item)
	return 1
end

if only ~= '' then
	if not known(only) then
		return -1
	end
	return set(only)
end

local changed = 0
local items = redis.call('ZRANGE', D .. ':items', 0, -1)
local default_listed = false
for _, item in ipairs(items) do
	changed = changed + set(item)
	default_listed = default_listed or item == D
end
if not default_listed and known(D) then
	changed = changed + set(D)
end
return changed
