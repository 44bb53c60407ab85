// Request latency at a fixed, moderate rate: an open-loop client in this process. Request i
// starts at t0 + i/rate whether or not earlier ones have finished (so a slow server cannot
// slow the load down and hide its own stalls, as a closed loop would), each on a new
// connection (`Connection: close`), and its latency runs from the connect() call to the last
// byte of the response. Every latency is kept and the percentiles are exact (a round has a few
// thousand); how late the client itself started requests is kept too, so a stalled client
// shows instead of passing for a slow Envoy.
//
// wrk cannot do this: it has no constant-rate mode (that is wrk2), and its Lua delay() holds a
// connection open and idle before each request, which hides the upstream connect and the
// native transport socket's header write from the latency.
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HOST, requestHead, smallResponseWatcher } from './http.mjs';

const SMALL = requestHead('GET', '/small');

/** The value at quantile q (0..1) of sorted `values`, nearest rank. */
export function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/**
 * `rate` requests per second for `seconds`; resolves with the latencies (ms, sorted) and the
 * client's own lateness (ms, sorted). Rejects on the first failed request.
 */
export function pacedRound({ port, rate, seconds, timeoutMs = 10_000 }) {
  return new Promise((resolve, reject) => {
    const total = Math.round(rate * seconds);
    const latencies = new Float64Array(total);
    const lateness = new Float64Array(total);
    const interval = 1000 / rate;
    let sent = 0;
    let finished = 0;
    let failed = false;
    const fail = (error) => {
      if (!failed) {
        failed = true;
        reject(error);
      }
    };
    const t0 = performance.now();
    const one = (i) => {
      const start = performance.now();
      lateness[i] = start - (t0 + i * interval);
      const socket = connect({ host: HOST, port, noDelay: true });
      const complete = smallResponseWatcher();
      let answered = false;
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no response within ${timeoutMs} ms`)));
      socket.on('connect', () => socket.write(SMALL));
      socket.on('data', (chunk) => {
        if (answered) return;
        if (complete(chunk)) {
          answered = true;
          latencies[i] = performance.now() - start;
        }
      });
      socket.on('error', (error) => fail(new Error(`latency request ${i} on port ${port}: ${error.message}`)));
      socket.on('close', () => {
        if (!answered) return fail(new Error(`latency request ${i} on port ${port}: closed before the response`));
        if (++finished === total) {
          resolve({ latencies: latencies.sort(), lateness: lateness.sort() });
        }
      });
    };
    const tick = () => {
      if (failed) return;
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1);
      while (sent < due) one(sent++);
      if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
    };
    tick();
  });
}
