// Figure 4: the module's linear memory. A leak shows as growth between 10,000 and 1,000,000
// sequential connections; per-connection state shows as growth with many connections open.
// Linear memory only grows, in 64 KiB pages, so "bytes per open connection" is an upper bound
// at page granularity.
import { startPlugin } from '../dist/host/index.js';
import { CONNECTION, PAYLOAD } from './subjects.mjs';
import { expectCounter, expectHeader } from './guard.mjs';
import { target } from './report.mjs';

const SECTION = '4. Memory (release module, Wasm linear memory)';

export async function memoryBench(report, modules, { sequential = 1_000_000, checkpoint = 10_000, open = 100_000 } = {}) {
  // Sequential connections: open, first data, close.
  const plugin = await startPlugin({ wasm: modules.release, configuration: '' });
  const first = plugin.newConnection(CONNECTION);
  expectHeader('memory run', first.downstreamData(PAYLOAD, false).forwarded, { ...CONNECTION, payload: PAYLOAD });
  first.close('remote');
  let atCheckpoint = 0;
  for (let i = 1; i < sequential; i++) {
    const conn = plugin.newConnection(CONNECTION);
    conn.downstreamData(PAYLOAD, false);
    conn.close('remote');
    if (i + 1 === checkpoint) atCheckpoint = plugin.memoryBytes;
  }
  const atEnd = plugin.memoryBytes;
  expectCounter('memory run', plugin, 'ppv2.headers_written', sequential);
  plugin.shutdown();

  // Connections held open after their first data, and (for comparison) before it, when the
  // filter still owes the header and keeps one map entry per connection.
  const held = async (sendFirstData) => {
    const p = await startPlugin({ wasm: modules.release, configuration: '' });
    for (let i = 0; i < 100; i++) {
      const c = p.newConnection(CONNECTION);
      c.downstreamData(PAYLOAD, false);
      c.close('remote');
    }
    const before = p.memoryBytes;
    const conns = new Array(open);
    for (let i = 0; i < open; i++) {
      conns[i] = p.newConnection(CONNECTION);
      if (sendFirstData) conns[i].downstreamData(PAYLOAD, false);
    }
    const after = p.memoryBytes;
    if (!sendFirstData) for (const c of conns) c.downstreamData(PAYLOAD, false);
    for (const c of conns) c.close('remote');
    expectCounter('memory run, held connections', p, 'ppv2.headers_written', 100 + open);
    p.shutdown();
    return { before, after, perConnection: (after - before) / open };
  };
  const afterData = await held(true);
  const beforeData = await held(false);

  report.add(SECTION, `linear memory after ${checkpoint.toLocaleString('en-US')} sequential connections`, atCheckpoint, 'B');
  report.add(SECTION, `linear memory after ${sequential.toLocaleString('en-US')} sequential connections`, atEnd, 'B', target('==', atCheckpoint), 'target: equal, no leak');
  report.add(SECTION, `bytes per open connection, ${open.toLocaleString('en-US')} open after their first data`, afterData.perConnection, 'B', target('<=', 64));
  report.add(SECTION, `bytes per open connection, ${open.toLocaleString('en-US')} open before their first data (header still owed)`, beforeData.perConnection, 'B');
  report.details.memory = { sequential, checkpoint, atCheckpoint, atEnd, open, afterData, beforeData };
}
