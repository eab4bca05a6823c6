-- wrk script for the bench: POST GraphQL requests read from a file, count GraphQL-level errors
-- and print one JSON line for bench/wrk.py.
--
-- usage: wrk ... -s bench/lua/graphql.lua <url> -- <requests file>
-- Each line of the requests file is "<bearer token>\t<JSON body>"; lines are used in turn.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local requests = {}
local cursor = 0
bad = 0
sample = ""

function init(args)
   local path = args[1]
   for line in io.lines(path) do
      local token, body = line:match("^([^\t]*)\t(.*)$")
      if body then
         local headers = { ["Content-Type"] = "application/json" }
         if token ~= "" then headers["Authorization"] = "Bearer " .. token end
         table.insert(requests, wrk.format("POST", nil, headers, body))
      end
   end
   if #requests == 0 then error("no requests in " .. path) end
   -- Threads start at different places so they do not send the same sequence in lockstep.
   cursor = math.random(#requests) - 1
end

function request()
   cursor = cursor % #requests + 1
   return requests[cursor]
end

function response(status, headers, body)
   -- A GraphQL error comes back with HTTP 200; a refused placeOrder as success:false.
   if status ~= 200 or body:find('"errors"', 1, true) or body:find('"success":false', 1, true) then
      bad = bad + 1
      if sample == "" then sample = tostring(status) .. " " .. body:sub(1, 300) end
   end
end

local function escape(text)
   return (text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end))
end

function done(summary, latency, requests_)
   local bad_total, sample_any = 0, ""
   for _, thread in ipairs(threads) do
      bad_total = bad_total + (thread:get("bad") or 0)
      local s = thread:get("sample") or ""
      if sample_any == "" then sample_any = s end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
      '"socket_errors":%d,"status_errors":%d,"timeouts":%d,"graphql_errors":%d,"sample":"%s"}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean, e.connect + e.read + e.write, e.status, e.timeout, bad_total,
      escape(sample_any)))
end
