#!lua flags=no-writes
-- What spikectl items lists: every item of the registry D:items, and
-- the default item when its hash is there though not registered (a
-- sale put on before the registry), read at one instant.
--
-- ARGV[1]  D, the deployment's prefix   ARGV[2]  total field
-- ARGV[3]  sold field
--
-- Returns {now, {name, total, sold, start_ms, end_ms, paused,
-- per_user}...}: now Redis's clock in ms; the fields as stored (false
-- when missing), in the registry's order (by start, then name).

local D = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local answer = {now}

local function add(item, key)
	local v = redis.call('HMGET', key, ARGV[2], ARGV[3], 'start_ms',
		'end_ms', 'paused', 'per_user')
	answer[#answer + 1] = {item, v[1], v[2], v[3], v[4], v[5], v[6]}
end

local default_listed = false
for _, item in ipairs(redis.call('ZRANGE', D .. ':items', 0, -1)) do
	if item == D then
		default_listed = true
		add(item, D)
	else
		add(item, D .. ':item:' .. item)
	end
end
if not default_listed and redis.call('HEXISTS', D, ARGV[2]) == 1 then
	add(D, D)
end
return answer
