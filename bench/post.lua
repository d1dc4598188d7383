-- POST the body in env BENCH_BODY with a unique Idempotency-Key per request.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid
  wrk.method = "POST"
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "")
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", os.getenv("BENCH_RUN"), thread_id, counter)
  return wrk.format()
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("JSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, \"non2xx\": %d, \"socket_errors\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
