// The bounded, deterministic part of `npm run fuzz`: the same engine and
// oracle (engine.mjs, oracle.mjs) on fixed seeds, against the release and the
// debug module. A finding fails the test with its replay command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fuzz } from './engine.mjs';
import { fixture } from '../fixtures/wat.mjs';

const RELEASE = new URL('../../build/ppv2.wasm', import.meta.url);
const DEBUG = new URL('../../build/ppv2.debug.wasm', import.meta.url);

function report(findings, seed) {
  return findings.map((f) => `${f.message}\n  replay: npm run fuzz -- --seed ${seed} --case ${f.details?.case}\n  ${JSON.stringify(f.details)}`).join('\n');
}

for (const [name, url, seed, count] of [['release', RELEASE, 0x5eed0001, 200], ['debug', DEBUG, 0x5eed0002, 80]]) {
  test(`fuzz (${name} module, seed ${seed}, ${count} cases): no trap, no lost byte, every header as the oracle says`, async () => {
    const { tally, findings } = await fuzz({ wasm: readFileSync(url), seed, count });
    assert.equal(findings.length, 0, report(findings, seed));
    assert.equal(tally.cases, count);
    // The run must have exercised both sides of the contract, or it proves little.
    assert.ok(tally.accepted >= count / 5 && tally.refused >= count / 5, JSON.stringify(tally));
    for (const outcome of ['v2 TCP4 with TLVs', 'v2 TCP6 with TLVs', 'v2 LOCAL', 'closed by policy', 'v1 TCP4']) {
      assert.ok(tally.outcomes[outcome] > 0, `no "${outcome}" connection in ${JSON.stringify(tally.outcomes)}`);
    }
  });
}

test('the engine finds a broken filter: a module that forwards bytes without a header fails the invariants', async () => {
  // The no-op fixture accepts every configuration and never prepends a header.
  const { findings } = await fuzz({ wasm: fixture('noop'), seed: 99, count: 40 });
  assert.ok(findings.some((f) => /oracle refuses|header|differ/.test(f.message)), findings.map((f) => f.message).join('\n'));
});
