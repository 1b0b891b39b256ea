-- Holds of the best available seats in Redis, each call one atomic script
-- (EVALSHA): Redis runs a script alone, and with `appendfsync always` its
-- writes are in the append-only file, fsync'd, before the reply is sent.
--
-- Data: KEYS[1] the free seats, a sorted set (member and score: the seat
-- number, so the lowest scores are the best seats); KEYS[2] the holds by
-- expiry, a sorted set (member: hold id, score: expiry in ms since the epoch)
-- for a sweeper to release expired holds; KEYS[3] the last hold id, a counter.
-- A hold is a hash hold:<id> {buyer, until_ms, seats}, and buyer:<buyer>:hold
-- names the buyer's hold (one per buyer). These two keys are built in the
-- script, which is fine on one server (a cluster would need them declared).
--
-- ARGV: op, buyer, quantity, hold time to live in seconds. The ops:
-- "hold_release": hold `quantity` seats for the buyer, then release them (a
--   whole cycle in one call); replies the seats held.
-- "hold_or_release": release the buyer's hold if there is one, else hold
--   `quantity` seats; replies {"held", seats...} or {"released", id}.
-- Fewer than `quantity` seats free: the error SOLD_OUT, nothing changed; a
-- quantity outside 1..8 (a buyer's limit): BAD_QUANTITY.
local free, expiries, last_id = KEYS[1], KEYS[2], KEYS[3]
local op, buyer, quantity, ttl_s = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local buyer_hold = 'buyer:' .. buyer .. ':hold'
local max_seats_per_hold = 8
if not quantity or quantity < 1 or quantity > max_seats_per_hold then
  return redis.error_reply('BAD_QUANTITY 1..' .. max_seats_per_hold)
end

local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Seats back in the free set: ZADD's arguments are score, member pairs.
local function free_seats(seats)
  local args = {}
  for _, seat in ipairs(seats) do
    args[#args + 1] = seat
    args[#args + 1] = seat
  end
  redis.call('ZADD', free, unpack(args))
end

local function hold()
  -- Counted first: a script's writes are not undone when it fails later.
  if redis.call('ZCARD', free) < quantity then return nil end
  local popped = redis.call('ZPOPMIN', free, quantity)
  local seats = {}
  for i = 1, #popped, 2 do seats[#seats + 1] = popped[i] end
  local id = redis.call('INCR', last_id)
  local until_ms = now_ms() + ttl_s * 1000
  redis.call('HSET', 'hold:' .. id, 'buyer', buyer, 'until_ms', until_ms, 'seats', table.concat(seats, ' '))
  redis.call('ZADD', expiries, until_ms, id)
  redis.call('SET', buyer_hold, id)
  return id, seats
end

local function release(id)
  local key = 'hold:' .. id
  local seats = redis.call('HGET', key, 'seats')
  if not seats then return false end
  local list = {}
  for seat in string.gmatch(seats, '%d+') do list[#list + 1] = seat end
  free_seats(list)
  redis.call('DEL', key, buyer_hold)
  redis.call('ZREM', expiries, id)
  return true
end

if op == 'hold_release' then
  local id, seats = hold()
  if not id then return redis.error_reply('SOLD_OUT') end
  release(id)
  return seats
elseif op == 'hold_or_release' then
  local held = redis.call('GET', buyer_hold)
  if held and release(held) then return {'released', held} end
  local id, seats = hold()
  if not id then return redis.error_reply('SOLD_OUT') end
  table.insert(seats, 1, 'held')
  return seats
end
return redis.error_reply('UNKNOWN_OP ' .. tostring(op))
