// The binding to the malloc tuning addon (native/malloc_tuning.c): glibc's mmap threshold, set
// once at start-up by src/server/process.ts. null: not built here (npm install printed why).
import { addonCandidates, loadAddon } from './load-addon.js';

export interface MallocTuningAddon {
  /** mallopt(M_MMAP_THRESHOLD, bytes): true when glibc took it; false on another libc. */
  setMmapThreshold(bytes: number): boolean;
}

let loaded: MallocTuningAddon | null | undefined;

export function mallocTuningAddon(): MallocTuningAddon | null {
  if (loaded === undefined) loaded = loadAddon<MallocTuningAddon>(addonCandidates('c2dns_malloc'));
  return loaded;
}
