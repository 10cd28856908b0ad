// The list compile worker (src/feeds/compile-worker.ts) as a worker thread can run it: the tests
// run the TypeScript sources, which a worker thread cannot load, so the module is bundled with
// esbuild (there since vitest needs it) into one JavaScript file, as the build would make it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { workerCompiler, type Compiler } from '../../src/feeds/compile-worker.js';

/** A compiler running each job in a worker thread started from the bundled module. */
export async function bundledWorkerCompiler(): Promise<Compiler> {
  const out = join(mkdtempSync(join(tmpdir(), 'c2dns-compile-worker-')), 'compile-worker.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('../../src/feeds/compile-worker.ts', import.meta.url))],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    // CommonJS dependencies inside an ES module bundle call require().
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return workerCompiler(pathToFileURL(out));
}
