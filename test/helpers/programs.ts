// Finding the real servers tests start (nsd, dnsmasq, unbound, named): on PATH first, then in
// the sbin directories a non-root PATH often lacks.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The program's path, or null when it is not installed. */
export function findProgram(name: string): string | null {
  for (const d of [...(process.env.PATH ?? '').split(delimiter).filter((x) => x !== ''), ...SBIN_DIRS]) {
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  return null;
}
