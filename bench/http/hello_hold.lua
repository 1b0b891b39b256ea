-- The client cost of hold_release.lua against the hello-world server: a
-- POST with a JSON body, then (on every answer, since hello-world answers
-- 200 to anything) a DELETE, with the per-request header building, the
-- body match and the release queue of the real script.
local tokens = {}
for line in io.lines("access.txt") do tokens[#tokens + 1] = line end
local admin = os.getenv("ADMIN_TOKEN")
local next_token = 0
local releases = {}
-- The hold requests are built once (one per token), not per request.
local holds = {}
for i, token in ipairs(tokens) do
  holds[i] = wrk.format("POST", "/v1/events/bench/holds",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
    '{"section":"GA","quantity":1}')
end
local hold_number = 0

request = function()
  local hold = table.remove(releases)
  if hold then
    return wrk.format("DELETE", "/v1/holds/" .. hold, { ["Authorization"] = "Bearer " .. admin })
  end
  next_token = next_token % #holds + 1
  return holds[next_token]
end

response = function(status, headers, body)
  if status == 200 then
    -- hello-world's body has no hold id: match anyway (the real cost), then
    -- queue a made-up one for every other answer, as a hold would be.
    local hold = string.match(body, '"hold_id":"([^"]+)"')
    hold_number = hold_number + 1
    if hold or hold_number % 2 == 1 then releases[#releases + 1] = hold or ("h1-" .. hold_number) end
  end
end
