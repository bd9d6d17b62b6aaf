-- wrk script: PUT /rooms/{roomId}/send/m.room.message/{txnId} with a unique transaction ID
-- per request (thread number, a per-run prefix and a counter), as one user with one token.
-- Environment: BENCH_TOKEN (access token), BENCH_ROOM (room ID), BENCH_RUN (txn prefix).
--   wrk -t2 -c8 -d10s --latency -s benches/send.lua http://127.0.0.1:8008
local token = os.getenv("BENCH_TOKEN")
local room = os.getenv("BENCH_ROOM")
local run = os.getenv("BENCH_RUN") or tostring(os.time())
assert(token and room, "set BENCH_TOKEN and BENCH_ROOM")

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

local counter = 0
local path_prefix
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local body = '{"msgtype":"m.text","body":"wrk says hello"}'

function init(args)
  path_prefix = "/_matrix/client/v3/rooms/" .. escape(room) .. "/send/m.room.message/" .. run .. "-" .. id .. "-"
end

function request()
  counter = counter + 1
  return wrk.format("PUT", path_prefix .. counter, headers, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format("sent: %d requests in %.2f s = %.0f msg/s; non-2xx: %d; socket errors: connect %d read %d write %d timeout %d\n",
    summary.requests, seconds, summary.requests / seconds, errors.status, errors.connect, errors.read, errors.write, errors.timeout))
  io.write(string.format("latency: median %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
