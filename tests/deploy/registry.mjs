// A throwaway OCI registry for the tests: Debian's docker-registry (the CNCF
// distribution registry) on a free loopback port, storing into a temporary
// folder, and skopeo to push image layouts into it. Stop it with stop().
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const { stopChild } = await import('../../dist/deploy/envoy-launcher.js');
const run = promisify(execFile);

/** Starts `binary serve` on 127.0.0.1 port 0 and resolves when it says where it listens. */
export async function startRegistry(binary, { timeoutMs = 15_000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-registry-'));
  const config = path.join(dir, 'config.yml');
  // Port 0: the registry logs the address it bound ("listening on ...") at info level.
  fs.writeFileSync(config, `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
http:
  addr: 127.0.0.1:0
  secret: ppv2-test-only
`);
  const child = spawn(binary, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const stop = async () => {
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const address = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`docker-registry did not report its address within ${timeoutMs} ms:\n${output}`)), timeoutMs);
      const onData = (d) => {
        output += d;
        const m = /listening on (127\.0\.0\.1:\d+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`docker-registry exited (${code}):\n${output}`));
      });
    });
    return { address, stop, output: () => output };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Pushes an OCI image layout tarball to docker://ref over plain HTTP. */
export async function pushImage(skopeo, archive, ref) {
  await run(skopeo, ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${archive}`, `docker://${ref}`], { timeout: 60_000 });
}
