-- Makes wrk print its summary as one JSON line (wrk's Lua API: done(summary, latency, requests)),
-- so bench/envoy/connections.mjs reads counts instead of parsing wrk's human-readable text.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout))
end
