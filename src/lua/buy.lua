-- Sell one ticket, exactly: never past the total (sold < total; the
-- seed's total >= sold sold one too many).  Everything is checked before
-- anything is written, because Redis does not roll a script back.
--
-- KEYS[1]  the stock hash
-- KEYS[2]  this purchase's request key: remembers that the request
--          bought, so that a retry of it (nginx resending the request to
--          another instance) is answered without selling a second ticket
-- ARGV[1]  total field     ARGV[2]  sold field
-- ARGV[3]  seconds to remember the request key
--
-- Returns {status, total, sold}: status 1 sold now, 2 this request had
-- bought already, 0 sold out, -1 no sale (hash missing or not numbers).

if redis.call('EXISTS', KEYS[2]) == 1 then
	local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
	return {2, tonumber(v[1]) or 0, tonumber(v[2]) or 0}
end

local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
local total, sold = tonumber(v[1]), tonumber(v[2])
if total == nil or sold == nil then
	return {-1, 0, 0}
end
if sold >= total then
	return {0, total, sold}
end

sold = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('SET', KEYS[2], 1, 'EX', ARGV[3])
return {1, total, sold}
