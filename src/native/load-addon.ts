// Loading one of the optional native addons node-gyp builds at install (binding.gyp, native/):
// looked up beside the sources (tests) and beside dist/ (built), loaded at most once. null means
// "not built here" (npm install printed why) or built for another Node ABI or platform; every
// caller has a pure-JS way to go on.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Where node-gyp puts build/Release/NAME.node, seen from src/native (tests) and from dist/src/native (built). */
export function addonCandidates(name: string): string[] {
  return [`../../build/Release/${name}.node`, `../../../build/Release/${name}.node`].map((p) => fileURLToPath(new URL(p, import.meta.url)));
}

/** The first candidate that exists, loaded; null when none does or it cannot load here. */
export function loadAddon<T>(candidates: readonly string[]): T | null {
  const file = candidates.find((f) => existsSync(f));
  if (file === undefined) return null;
  try {
    return createRequire(import.meta.url)(file) as T;
  } catch {
    return null;
  }
}
