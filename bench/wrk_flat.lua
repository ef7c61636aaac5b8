-- wrk script of `dehong bench services` (bench/services.py), flat-out phase.
-- One wrk process per path: each request carries an X-Forwarded-For from a pool of
-- addresses in 10.0.0.0/8 taken in turn (as many phones behind our proxy; uvicorn
-- believes it from loopback, so the API's per-address rate limit stays on and sees
-- the pool); at the end one JSON line on stdout: requests, errors and the latency
-- percentiles (ms) of wrk's own histogram.
-- Arguments after `--`: the pool size and this process's starting offset in it.

local pool, n = 50000, 0

function init(args)
  pool = tonumber(args[1]) or pool
  n = tonumber(args[2]) or 0
end

function request()
  n = n + 1
  local i = n % pool
  local xff = string.format("10.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
  return wrk.format(nil, nil, { ["X-Forwarded-For"] = xff })
end

function done(summary, latency, requests)
  local e = summary.errors
  local function ms(q) return latency:percentile(q) / 1000.0 end
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, ' ..
    '"p999_ms": %.2f, "max_ms": %.2f, "mean_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000.0, latency.mean / 1000.0))
end
