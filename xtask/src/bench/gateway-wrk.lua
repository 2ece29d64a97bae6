-- `cargo xtask bench gateway`: wrk's own figures as one line the bench parses, instead of
-- its human summary. Latencies are wrk's, in microseconds.

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      "waypoint-bench requests=%d duration_us=%d p50_us=%d p99_us=%d "
         .. "connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
