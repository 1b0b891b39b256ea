-- The client cost of status.lua against the hello-world server: the same
-- token list, one prebuilt request per token, one Lua call per request, so that the
-- yardstick is driven by a client doing the same work as for the gateway.
local tokens = {}
for line in io.lines("tokens.txt") do tokens[#tokens + 1] = line end
local next_token = 0
local path = "/v1/events/bench/queue/status"
local requests = {}
for i, token in ipairs(tokens) do
  requests[i] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end

request = function()
  next_token = next_token % #requests + 1
  return requests[next_token]
end
