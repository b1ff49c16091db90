-- wrk script for the proxy benchmark: every request carries an X-User-Id drawn
-- from 100,000 users and 1% also carry X-User-Cohort: internal, so each proxy
-- runs its header rule and its sticky hash split on every request.
-- Requests are formatted once in init() and replayed from a ring so that wrk's
-- own Lua cost per request stays small and equal for all targets.
-- With CHECK_SPLIT=1 in the environment, the response hook counts bodies that
-- start with "canary" (slower; used only for the short split-check run).

local ring_size = 20000
local ring = {}
local next_index = 1
local threads = {}
-- Globals, not locals: done() reads them from each thread with thread:get().
canary_seen = 0
total_seen = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  local id = thread_id or 1
  math.randomseed(7919 * id)
  for i = 1, ring_size do
    local user = tostring(math.random(0, 99999))
    local headers = { ["X-User-Id"] = user }
    if i % 100 == 0 then
      headers["X-User-Cohort"] = "internal"
    end
    ring[i] = wrk.format("GET", "/profile", headers)
  end
end

function request()
  local r = ring[next_index]
  next_index = next_index + 1
  if next_index > ring_size then
    next_index = 1
  end
  return r
end

if os.getenv("CHECK_SPLIT") == "1" then
  function response(status, headers, body)
    total_seen = total_seen + 1
    if body ~= nil and string.sub(body, 1, 6) == "canary" then
      canary_seen = canary_seen + 1
    end
  end
end

function done(summary, latency, requests)
  local canary, seen = 0, 0
  for _, t in ipairs(threads) do
    canary = canary + (t:get("canary_seen") or 0)
    seen = seen + (t:get("total_seen") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"canary":%d,"seen":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, canary, seen))
end
