// npm's `install` script: builds the optional addons of binding.gyp (native/udp_batch.c, native/malloc_tuning.c) with node-gyp
// against the headers of the Node that runs this script, never downloading any. Any failure
// prints one line and exits 0: c2dns then serves UDP with the pure-JS path (src/server/udp.ts).
// C2DNS_NATIVE=0 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const skip = (why) => {
  console.log(`c2dns: native addons not built (${why}); UDP is served by the pure-JS path, glibc's mmap threshold is left alone`);
  process.exit(0);
};

if (process.env.C2DNS_NATIVE === '0') skip('C2DNS_NATIVE=0');
if (process.platform !== 'linux') skip(`recvmmsg/sendmmsg are Linux system calls, this is ${process.platform}`);
// The headers ship with Node (/usr/include/node for /usr/bin/node, /usr/local/include/node in the
// official images): nodedir is the installation prefix of the running node.
const nodedir = process.env.npm_config_nodedir || path.dirname(path.dirname(process.execPath));
if (!existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) skip(`no Node headers in ${nodedir}/include/node`);
const gyp = nodeGyp();
if (gyp === null) skip('node-gyp not found (it comes with npm)');
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
if (r.status !== 0) {
  const lines = `${r.stderr ?? ''}${r.stdout ?? ''}`.split('\n').filter((l) => /error|not found|No such/i.test(l));
  skip(`node-gyp failed: ${lines.slice(0, 3).join(' | ').trim() || (r.error?.message ?? `exit ${r.status}`)}`);
}
console.log('c2dns: native addons built (build/Release/c2dns_udp_batch.node, c2dns_malloc.node)');

/** node-gyp's bin script: npm names it while running scripts, else the copy inside npm. */
function nodeGyp() {
  const named = process.env.npm_config_node_gyp;
  if (named && existsSync(named)) return named;
  const candidates = [path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency of ours
  }
  return candidates.find((c) => existsSync(c)) ?? null;
}
