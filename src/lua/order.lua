-- A user's latest order, whatever its status, while it is kept: an
-- ended order is removed after the retention, and KEY:last:USER expires
-- then too.
--
-- ARGV[1]  key prefix (the item's key)       ARGV[2]  user
--
-- Returns {} when the user has no order, else {order, status, pay_by}.

local id = redis.call('GET', ARGV[1] .. ':last:' .. ARGV[2])
if not id then
	return {}
end
local o = redis.call('HMGET', ARGV[1] .. ':order:' .. id, 'status', 'pay_by')
if not o[1] then
	return {}
end
return {id, o[1], tonumber(o[2]) or 0}
