-- Status polls spread over many queue tokens (one per line of tokens.txt).
local tokens = {}
for line in io.lines("tokens.txt") do tokens[#tokens + 1] = line end
local next_token = 0
path = "/v1/events/bench/queue/status"

request = function()
  next_token = next_token % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[next_token] })
end
