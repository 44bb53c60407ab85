// The host refuses a module when Envoy would, with one line naming the cause
// (cpp-host src/wasm.cc load/initialize, src/v8/v8.cc link and getModuleFunctionImpl).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlugin, PluginStartError } from '../../dist/host/index.js';
import { mod, watToWasm, messages } from './helpers.mjs';

const LOG = '(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))';

const cases = [
  { name: 'bytes that are not Wasm', wasm: Buffer.from('hello world'), expect: /Failed to parse corrupted Wasm module: not a Wasm binary/ },
  { name: 'a missing file', wasm: '/nonexistent/filter.wasm', expect: /cannot read \/nonexistent\/filter\.wasm: ENOENT/ },
  { name: 'a corrupt module', wasm: Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5), expect: /Failed to load Wasm bytecode: / },
  { name: 'no ABI version export', wat: mod('', { abi: null }), expect: /Missing or unknown Proxy-Wasm ABI version/ },
  { name: 'an ABI marker that is not a function', wat: mod('(global (export "proxy_abi_version_0_2_1") i32 (i32.const 0))', { abi: null }), expect: /Missing or unknown Proxy-Wasm ABI version/ },
  { name: 'ABI 0.1.0', wat: mod('', { abi: 'proxy_abi_version_0_1_0' }), expect: /proxy_abi_version_0_1_0: this host implements Proxy-Wasm ABI 0\.2\.0 and 0\.2\.1 only/ },
  { name: 'no allocator export', wat: mod('', { malloc: false }), expect: /Wasm module is missing malloc function/ },
  { name: 'an import Envoy does not provide', wat: mod('(import "env" "proxy_foo" (func (param i32) (result i32)))'), expect: /missing import: env\.proxy_foo$/ },
  { name: 'a WASI import', wat: mod('(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))'), expect: /missing import: wasi_snapshot_preview1\.fd_write \(Envoy also offers WASI; this host does not\)/ },
  { name: 'an imported global', wat: mod('(import "env" "g" (global i32))'), expect: /missing import: env\.g$/ },
  { name: 'a host function with the wrong type', wat: mod('(import "env" "proxy_log" (func (param i32) (result i32)))'), expect: /import type mismatch: env\.proxy_log, want: i32 -> i32, but host exports: i32 i32 i32 -> i32/ },
  { name: 'proxy_get_log_level under ABI 0.2.0', wat: mod('(import "env" "proxy_get_log_level" (func (param i32) (result i32)))', { abi: 'proxy_abi_version_0_2_0' }), expect: /missing import: env\.proxy_get_log_level/ },
  { name: 'a callback with the wrong signature', wat: mod('(func (export "proxy_on_downstream_data") (param i32) (result i32) (i32.const 0))'), expect: /Bad function signature for: proxy_on_downstream_data, want: i32 i32 i32 -> i32, but the module exports: i32 -> i32/ },
  { name: 'a start section that traps', wat: mod('(func $boom unreachable) (start $boom)'), expect: /Failed to create new Wasm instance: RuntimeError: unreachable/ },
  { name: 'a start section that calls the host', wat: mod(`${LOG} (func $hello (drop (call $log (i32.const 2) (i32.const 0) (i32.const 1)))) (start $hello)`), expect: /start section made a host call/ },
  { name: '_initialize calling a host function other than proxy_log', wat: mod(`(import "env" "proxy_get_log_level" (func $lvl (param i32) (result i32)))
      (func (export "_initialize") (drop (call $lvl (i32.const 0))))`), expect: /Failed to initialize Wasm code: Function: _initialize failed: Uncaught RuntimeError: restricted_callback/ },
  { name: 'proxy_on_vm_start returning false', wat: mod('(func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 0))'), expect: /Failed to start base Wasm: proxy_on_vm_start returned false/ },
  { name: 'proxy_on_configure returning false', wat: mod('(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 0))'), expect: /Failed to configure base Wasm plugin: proxy_on_configure returned false/ },
  { name: 'proxy_on_configure trapping', wat: mod('(func (export "proxy_on_configure") (param i32 i32) (result i32) unreachable)'), expect: /Failed to configure base Wasm plugin: .*Function: proxy_on_configure failed: Uncaught RuntimeError: unreachable/ },
];

for (const c of cases) {
  test(`refuses ${c.name}`, async () => {
    const wasm = c.wasm ?? watToWasm(c.wat);
    await assert.rejects(startPlugin({ wasm }), (err) => {
      assert.ok(err instanceof PluginStartError, `not a PluginStartError: ${err}`);
      assert.match(err.message, c.expect);
      assert.ok(!err.message.includes('\n'), 'the message is one line');
      assert.match(err.message, /^Wasm plugin refused: /);
      return true;
    });
  });
}

test('the refusal carries what the plugin logged before it', async () => {
  const wat = mod(`${LOG}
    (data (i32.const 0) "bad config")
    (func (export "proxy_on_configure") (param i32 i32) (result i32)
      (drop (call $log (i32.const 4) (i32.const 0) (i32.const 10))) (i32.const 0))`);
  await assert.rejects(startPlugin({ wasm: watToWasm(wat) }), (err) => {
    assert.deepEqual(err.logs.map((e) => [e.levelName, e.message]).slice(0, 1), [['error', 'bad config']]);
    assert.equal(err.logs.at(-1).levelName, 'critical');
    return true;
  });
});

test('accepts a harmless start section, runs _initialize then main, and allows proxy_log there', async () => {
  const wat = mod(`${LOG}
    (global $g (mut i32) (i32.const 0))
    (func $s (global.set $g (i32.const 1))) (start $s)
    (data (i32.const 0) "initmain")
    (func (export "_initialize") (drop (call $log (i32.const 2) (i32.const 0) (i32.const 4))))
    (func (export "main") (param i32 i32) (result i32) (drop (call $log (i32.const 2) (i32.const 4) (i32.const 4))) (i32.const 0))
    (func (export "_start") (drop (call $log (i32.const 2) (i32.const 0) (i32.const 8))))`);
  const plugin = await startPlugin({ wasm: watToWasm(wat) });
  assert.deepEqual(messages(plugin), ['init', 'main']);
  assert.equal(plugin.logs[0].context, 0, 'the VM context (id 0) runs _initialize');
  plugin.shutdown();
});

test('runs _start when there is no _initialize', async () => {
  const wat = mod(`${LOG} (data (i32.const 0) "start")
    (func (export "_start") (drop (call $log (i32.const 2) (i32.const 0) (i32.const 5))))`);
  const plugin = await startPlugin({ wasm: watToWasm(wat) });
  assert.deepEqual(messages(plugin), ['start']);
});

test('prefers malloc over proxy_on_memory_allocate when both are exported, as cpp-host does', async () => {
  const wat = `(module ${LOG}
    (import "env" "proxy_get_property" (func $prop (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "proxy_abi_version_0_2_1"))
    (data (i32.const 0) "mallocpomplugin_name")
    (func (export "malloc") (param i32) (result i32) (drop (call $log (i32.const 2) (i32.const 0) (i32.const 6))) (i32.const 4096))
    (func (export "proxy_on_memory_allocate") (param i32) (result i32) (drop (call $log (i32.const 2) (i32.const 6) (i32.const 3))) (i32.const 4096))
    (func (export "proxy_on_configure") (param i32 i32) (result i32)
      (drop (call $prop (i32.const 9) (i32.const 11) (i32.const 100) (i32.const 104))) (i32.const 1)))`;
  const plugin = await startPlugin({ wasm: watToWasm(wat), pluginName: 'p' });
  assert.deepEqual(messages(plugin), ['malloc']);
  assert.equal(plugin.stats.allocations, 1);
});

test('rejects bad options with a one-line TypeError', async () => {
  await assert.rejects(startPlugin({ wasm: new Uint8Array(8), failurePolicy: 'FAIL_RELOAD' }), /failurePolicy must be 'FAIL_CLOSED' or 'FAIL_OPEN', got "FAIL_RELOAD"/);
  await assert.rejects(startPlugin({ wasm: new Uint8Array(8), logLevel: 'loud' }), /logLevel must be one of trace, debug, info, warn, error, critical, off or 0-6, got "loud"/);
  await assert.rejects(startPlugin({ wasm: 42 }), /wasm must be a path, bytes or a WebAssembly.Module/);
});
