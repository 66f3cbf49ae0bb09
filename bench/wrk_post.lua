-- wrk script for bench/ingest.py: POST the event file given after `--`, each request distinct
-- (@@N@@ → a number unique across threads and runs (the second argument: an offset per run), so duplicate suppression lets every one pass),
-- count answers per status, and print one JSON line at the end.
local threads = {}
local template
local counter = 0
local offset = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  template = file:read("*a")
  file:close()
  offset = tonumber(args[2] or "0")
  statuses = {}
end

function request()
  counter = counter + 1
  local body = (template:gsub("@@N@@", string.format("%d", offset + id * 100000000 + counter)))
  return wrk.format("POST", "/", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts, parts = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"seconds": %f, "requests": %d, "statuses": {%s}, "errors": %d, "p50_ms": %f, "p99_ms": %f, "max_ms": %f}\n',
    summary.duration / 1e6, summary.requests, table.concat(parts, ", "), errors,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
