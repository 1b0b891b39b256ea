-- Durable hold, then its release, over many access tokens (access.txt):
-- each response to a hold queues the release of that hold (made with the
-- admin token, so responses arriving out of order need no bookkeeping).
-- HOLD_QUANTITY places per hold (1 unless set).
local tokens = {}
for line in io.lines("access.txt") do tokens[#tokens + 1] = line end
local admin = os.getenv("ADMIN_TOKEN")
local next_token = 0
local quantity = tonumber(os.getenv("HOLD_QUANTITY") or "1")
local releases = {}
-- The hold requests are built once (one per token), not per request.
local holds = {}
for i, token in ipairs(tokens) do
  holds[i] = wrk.format("POST", "/v1/events/bench/holds",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
    '{"section":"GA","quantity":' .. quantity .. '}')
end

request = function()
  local hold = table.remove(releases)
  if hold then
    return wrk.format("DELETE", "/v1/holds/" .. hold, { ["Authorization"] = "Bearer " .. admin })
  end
  next_token = next_token % #holds + 1
  return holds[next_token]
end

response = function(status, headers, body)
  if status == 201 then
    local hold = string.match(body, '"hold_id":"([^"]+)"')
    if hold then releases[#releases + 1] = hold end
  end
end
