-- GET the path given to wrk with the bearer key in env BENCH_KEY.
function init(args)
  wrk.method = "GET"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "")
end

function done(summary, latency, requests)
  io.write(string.format("JSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, \"non2xx\": %d, \"socket_errors\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
