// A missing Debian tool fails the test under CI=true and skips it with an
// install hint elsewhere; it is never silently ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findTool, requireTool } from './tools.mjs';

function withCi(value, run) {
  const saved = process.env.CI;
  if (value === undefined) delete process.env.CI;
  else process.env.CI = value;
  try {
    return run();
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
}

test('under CI=true a missing tool fails the test, naming the package to install', () => {
  const t = { skip: () => assert.fail('must not skip under CI') };
  withCi('true', () => {
    assert.throws(() => requireTool(t, 'text2pcap-does-not-exist'), /text2pcap-does-not-exist is not installed, and CI=true makes that a failure \(install it: apt-get install -y text2pcap-does-not-exist\)/);
  });
});

test('outside CI a missing tool skips the test with the install command', () => {
  let message = null;
  const t = { skip: (m) => { message = m; } };
  withCi(undefined, () => assert.equal(requireTool(t, 'no-such-ppv2-tool'), null));
  assert.equal(message, 'no-such-ppv2-tool is not installed (install it: apt-get install -y no-such-ppv2-tool)');
});

test('a present tool is found, also in /usr/sbin where Debian puts daemons', () => {
  assert.ok(findTool('node'));
  const t = { skip: () => assert.fail('node is present') };
  withCi('true', () => assert.ok(requireTool(t, 'node').endsWith('/node')));
});
