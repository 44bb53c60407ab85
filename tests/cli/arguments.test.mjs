// How every command takes its arguments: --version, and one line of our own
// for each mistake (never node:util's parseArgs wording), with one
// "ppv2-wasm <command>:" prefix, and exit code 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runCli } from './cli-process.mjs';

const PACKAGE = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

test('--version prints the package version and exits 0', async () => {
  for (const flag of ['--version', '-v']) {
    const { code, stdout, stderr } = await runCli([flag]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, `ppv2-wasm ${PACKAGE.version}\n`);
  }
});

// parseArgs' own texts: "Option '--x' argument is ambiguous", "Unknown option '--x'. To specify
// a positional argument ...", "Unexpected argument 'x'. This command does not take positional arguments".
const PARSE_ARGS_WORDING = /ambiguous|Unknown option '|Unexpected argument '|To specify|ERR_PARSE_ARGS|positional/;

test('every argument mistake is one line of ours, naming the option and the fix, exit 2', async () => {
  const proxy = ['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9'];
  const cases = [
    [['inspect', '--listen', '127.0.0.1:0', '--header-timeout', '-5'], 'inspect: --header-timeout "-5" is not a whole number of milliseconds from 1 to 9999999'],
    [['inspect', '--listen', '127.0.0.1:0', '--header-timeout=0'], 'inspect: --header-timeout "0" is not a whole number of milliseconds from 1 to 9999999'],
    [['inspect', '--listen'], 'inspect: --listen needs a value: --listen HOST:PORT'],
    [['inspect', '--listen', '--echo'], 'inspect: --listen needs a value: --listen HOST:PORT'],
    [['inspect', '--listen', '127.0.0.1:0', '--colour'], 'inspect: unknown option --colour (options: --listen, --echo, --header-timeout, --help)'],
    [['inspect', '--listen', '127.0.0.1:0', '-x'], 'inspect: unknown option -x (options: --listen, --echo, --header-timeout, --help)'],
    [['inspect', '--listen', '127.0.0.1:0', '9000'], 'inspect: unexpected argument "9000": this command takes options only'],
    [['inspect', '--listen', '127.0.0.1:0', '--', '--echo'], 'inspect: unexpected "--": this command takes options only'],
    [['inspect', '--echo=yes', '--listen', '127.0.0.1:0'], 'inspect: --echo takes no value (got "yes")'],
    [[...proxy, '--drain-timeout', '-1'], 'proxy: --drain-timeout "-1" is not a whole number of milliseconds from 0 to 86400000'],
    [[...proxy, '--drain-timeout', '1.5'], 'proxy: --drain-timeout "1.5" is not a whole number of milliseconds from 0 to 86400000'],
    [[...proxy, '--drain-timeout'], 'proxy: --drain-timeout needs a value: --drain-timeout MS'],
    [[...proxy, '--wasm'], 'proxy: --wasm needs a value: --wasm FILE'],
    [[...proxy, '--log-level', 'loud'], 'proxy: --log-level "loud" is not one of trace, debug, info, warn, error, critical'],
    [[...proxy, '--fail-open=no'], 'proxy: --fail-open takes no value (got "no")'],
    [['encode', '--src', '1.2.3.4:1', '--dst'], 'encode: --dst needs a value: --dst ADDR'],
    [['encode', '--src', '1.2.3.4:1', '--dst', '5.6.7.8:2', '--property'], 'encode: --property needs a value: --property PATH=VALUE'],
    [['encode', '--src', '1.2.3.4:1', '--dst', '5.6.7.8:2', '--sni'], 'encode: --sni needs a value: --sni NAME'],
  ];
  for (const [args, expected] of cases) {
    const { code, stdout, stderr } = await runCli(args);
    const command = args[0];
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.equal(stdout, '');
    assert.equal(stderr, `ppv2-wasm ${expected} (see ppv2-wasm ${command} --help)\n`, args.join(' '));
    assert.doesNotMatch(stderr, PARSE_ARGS_WORDING);
  }
  const top = await runCli(['--verbose']);
  assert.equal(top.code, 2);
  assert.equal(top.stderr, 'ppv2-wasm: unknown option "--verbose" (commands: proxy, inspect, encode, image; see ppv2-wasm --help)\n');
});

test('a configuration the filter refuses is one line with one "ppv2-wasm" prefix', async () => {
  const { code, stderr } = await runCli(['encode', '--src', '1.2.3.4:1', '--dst', '5.6.7.8:2', '--config-json', '{"version":3}']);
  assert.equal(code, 1);
  assert.match(stderr, /^ppv2-wasm encode: the filter refused to start: [^\n]*version[^\n]*3[^\n]*\n$/);
  assert.equal(stderr.match(/ppv2-wasm/g).length, 1, stderr);
});
