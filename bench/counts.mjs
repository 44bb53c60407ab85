// Figure 2: host calls and host allocations per connection, counted by the host itself
// (plugin.stats), phase by phase. Counts do not depend on the machine.
import { startPlugin } from '../dist/host/index.js';
import { CONNECTION, PAYLOAD, TLV_CONFIG, TLV_CONNECTION } from './subjects.mjs';
import { expectHeader } from './guard.mjs';
import { target } from './report.mjs';

const SECTION = '2. Host calls and allocations per connection (counted by the host)';
const LATER = 3; // later data callbacks per direction, per connection

/**
 * Drives `n` connections through open, first downstream data, LATER more downstream data,
 * LATER upstream data, close; returns the host calls and allocations of each phase, per connection.
 */
function countPhases(plugin, props, n) {
  const phases = { open: [0, 0], first: [0, 0], laterDown: [0, 0], up: [0, 0], close: [0, 0] };
  const stats = plugin.stats;
  const measure = (phase, action) => {
    stats.reset();
    const result = action();
    phases[phase][0] += stats.total;
    phases[phase][1] += stats.allocations;
    return result;
  };
  for (let i = 0; i < n; i++) {
    const conn = measure('open', () => plugin.newConnection(props));
    const first = measure('first', () => conn.downstreamData(PAYLOAD, false));
    if (i === 0) {
      const tlvs = props.sni === undefined ? [] : [[2, props.sni], [5, String(props.connectionId)]];
      expectHeader('host-call count run', first.forwarded, { ...props, tlvs, payload: PAYLOAD });
    }
    for (let k = 0; k < LATER; k++) measure('laterDown', () => conn.downstreamData(PAYLOAD, false));
    for (let k = 0; k < LATER; k++) measure('up', () => conn.upstreamData(PAYLOAD, false));
    measure('close', () => conn.close('remote'));
  }
  const per = {};
  for (const [phase, [calls, allocations]] of Object.entries(phases)) per[phase] = { calls: calls / n, allocations: allocations / n };
  per.total = {
    calls: Object.values(per).reduce((s, p) => s + p.calls, 0),
    allocations: Object.values(per).reduce((s, p) => s + p.allocations, 0),
  };
  return per;
}

export async function countBench(report, modules, { connections = 1000 } = {}) {
  const run = async (wasm, configuration, props) => {
    const plugin = await startPlugin({ wasm, configuration });
    try {
      return countPhases(plugin, props, connections);
    } finally {
      plugin.shutdown();
    }
  };
  // The floors keep no state and prepend on every data callback: only their first-data counts
  // are a reference.
  const filter = await run(modules.release, '', CONNECTION);
  const floor = await run(modules.floor, '', CONNECTION);
  const filterTlv = await run(modules.release, TLV_CONFIG, TLV_CONNECTION);
  const floorTlv = await run(modules.floorTlv, '', TLV_CONNECTION);

  const note = `mean over ${connections.toLocaleString('en-US')} connections`;
  report.add(SECTION, 'host calls per connection, IPv4, no TLVs', filter.total.calls, '', target('<=', 3), note);
  report.add(SECTION, `host calls per later downstream data callback (${LATER} per connection)`, filter.laterDown.calls / LATER, '', target('==', 0));
  report.add(SECTION, 'host calls per upstream data callback', filter.up.calls / LATER, '', target('==', 0));
  report.add(SECTION, 'host calls per connection, IPv4 + authority + unique_id + CRC32C', filterTlv.total.calls, '', target('<=', floorTlv.first.calls), 'target: floor-tlv.wat on first data');
  report.add(SECTION, 'host calls in later data callbacks, with TLVs', filterTlv.laterDown.calls + filterTlv.up.calls, '', target('==', 0));
  report.add(SECTION, 'host allocations (malloc calls) per connection, IPv4', filter.total.allocations, '', target('<=', floor.first.allocations), 'target: floor.wat on first data');
  report.add(SECTION, 'host allocations per connection, with TLVs', filterTlv.total.allocations, '', target('<=', floorTlv.first.allocations), 'target: floor-tlv.wat on first data');
  report.details.counts = { connections, laterCallbacksPerDirection: LATER, filter, floor, filterTlv, floorTlv };
}
