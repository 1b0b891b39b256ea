-- Status polls spread over many queue tokens (one per line of tokens.txt).
local tokens = {}
for line in io.lines("tokens.txt") do tokens[#tokens + 1] = line end
local next_token = 0
local path = "/v1/events/bench/queue/status"
-- Built once, not per request: the client's Lua work per request would
-- otherwise use up wrk's core before the server's (see docs/performance.md).
local requests = {}
for i, token in ipairs(tokens) do
  requests[i] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end

request = function()
  next_token = next_token % #requests + 1
  return requests[next_token]
end
