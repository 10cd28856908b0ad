// The console's static files (one hand-written ES module and one style sheet), read once from
// ./assets/ next to this module: src/admin/console/assets when running from the sources,
// dist/src/admin/console/assets after `npm run build` (which copies them there). A build made by
// tsc alone, without the copy, falls back to the sources beside dist/.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Asset {
  name: string;
  contentType: string;
  text: string;
}

export const ASSET_TYPES: Readonly<Record<string, string>> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

const candidates = [new URL('./assets/', import.meta.url), new URL('../../../../src/admin/console/assets/', import.meta.url)];

let loaded: Map<string, Asset> | null = null;

/** Every asset by file name; throws when neither directory has them (a broken install). */
export function consoleAssets(): Map<string, Asset> {
  if (loaded !== null) return loaded;
  const dir = candidates.find((u) => existsSync(fileURLToPath(new URL('console.js', u))));
  if (dir === undefined) throw new Error(`the web console's files are missing (looked in ${candidates.map((u) => fileURLToPath(u)).join(' and ')}): rebuild with npm run build`);
  const m = new Map<string, Asset>();
  for (const [name, contentType] of Object.entries(ASSET_TYPES)) m.set(name, { name, contentType, text: readFileSync(fileURLToPath(new URL(name, dir)), 'utf8') });
  loaded = m;
  return m;
}
