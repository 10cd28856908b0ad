// When c2dns first saw each name of a source: provenance for `c2dns check`, and the clock for
// per-source maxAgeDays. One "name<TAB>epoch-ms" line per name, written whole atomically, later
// saves appending the names added since. In memory a
// NameTable (packed names, a time each), which the source's compiled rules use as their name
// store. Read and written as bytes, a million names in a fraction of a second.
// Keyed like the last good copies (store.ts): by list name AND location, in STEM.first-seen.tsv, so
// a list re-pointed to another feed starts its own clock instead of inheriting the old feed's
// times (an early maxAgeDays expiry, wrong provenance). Tables written before that (NAME.first-
// seen.tsv) are migrated to the source they were written for: the one whose copy was saved last.
import { closeSync, existsSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { writeFileAtomicAsync } from '../storage/atomic.js';
import { join } from 'node:path';
import { NameTable } from '../blocklist/names.js';
import { align8, IMAGE_MAGIC, IMAGE_VERSION, imageFile, readFirstSeen, type ImageHeader } from './firstseen-read.js';
import { lastSavedOrigin, sourceStem, type SourceRef } from './store.js';

function file(dir: string, source: SourceRef): string {
  return join(dir, `${sourceStem(source)}.first-seen.tsv`);
}

/** Where versions keyed by list name only kept a source's table. */
function legacyFile(dir: string, name: string): string {
  return join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.first-seen.tsv`);
}

/**
 * The file `source`'s table is in: its own, or a table keyed by name alone that was written for
 * it. With `migrate`, such a table is renamed to the source it belongs to (whichever that is);
 * without (read-only commands), the state directory is left as it is.
 */
function tableFile(dir: string, source: SourceRef, migrate: boolean): string | null {
  const own = file(dir, source);
  if (existsSync(own)) return own;
  const legacy = legacyFile(dir, source.name);
  if (!existsSync(legacy)) return null;
  // It was saved right after the last good copy of the source it was written for.
  const owner = lastSavedOrigin(dir, source.name);
  if (owner === null) return null; // whose it is cannot be told: left where it is
  if (migrate) {
    const target = file(dir, { name: source.name, origin: owner });
    try {
      if (!existsSync(target)) {
        renameSync(legacy, target);
        return owner === source.origin ? own : null;
      }
    } catch {
      // Not renamed (a read-only state directory): read in place, migrated on a later start.
    }
  }
  return owner === source.origin ? legacy : null;
}

/** The table of `source` (empty when it has none); `migrate`: see tableFile. */
export function loadFirstSeen(dir: string, source: SourceRef, options: { migrate: boolean } = { migrate: false }): NameTable {
  const f = firstSeenFile(dir, source, options);
  return f === null ? new NameTable() : readFirstSeen(f);
}

/**
 * The file `source`'s table is in (null: it has none), for a compile to read where it runs
 * (readFirstSeen): at 1M names reading is ~0.35 s of CPU, which the serving thread then does
 * not spend. `migrate`: see tableFile.
 */
export function firstSeenFile(dir: string, source: SourceRef, options: { migrate: boolean } = { migrate: false }): string | null {
  return tableFile(dir, source, options.migrate);
}

/** What a save left on disk: the file holds the table's first `names` names and is `bytes` long. */
export interface SavedTable {
  names: number;
  bytes: number;
}

/**
 * Writes the table, yielding to the event loop every 8k names (a 1M-name table is ~0.2 s of CPU,
 * a millisecond or so per slice). Given what the last save of this table left (`saved`) and the
 * file still that size, only the names added since are appended (an update's few new names,
 * not its million: names are only ever added to a table, and a name's time never changes);
 * otherwise the whole table is written (temp file + rename). Resolves to what is on disk now.
 */
export async function saveFirstSeen(dir: string, source: SourceRef, m: NameTable, saved: SavedTable | null = null): Promise<SavedTable> {
  const f = file(dir, source);
  if (saved !== null && saved.names <= m.size && sizeOf(f) === saved.bytes) {
    const more = await render(m, saved.names);
    if (more.length > 0) await appendDurably(f, more);
    return { names: m.size, bytes: saved.bytes + more.length };
  }
  const out = await render(m, 0);
  await writeFileAtomicAsync(f, out);
  return { names: m.size, bytes: out.length };
}

const YIELD_EVERY = 8192;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function sizeOf(f: string): number {
  try {
    return statSync(f).size;
  } catch {
    return -1;
  }
}

/** One write, then fsync; a write cut short (a full disk) leaves a last line without its newline, which readFirstSeen skips. */
async function appendDurably(f: string, data: Buffer): Promise<void> {
  const fh = await open(f, 'a');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The lines of names `from`..size-1. */
async function render(m: NameTable, from: number): Promise<Buffer> {
  let size = 0;
  let lastTime = NaN;
  let digits = new Uint8Array(0);
  const timeBytes = (t: number): Uint8Array => {
    if (t !== lastTime) {
      lastTime = t;
      digits = Buffer.from(String(t), 'latin1');
    }
    return digits;
  };
  for (let id = from; id < m.size; id++) {
    size += m.end(id) - m.start(id) + timeBytes(m.time(id)).length + 2;
    if (id % YIELD_EVERY === YIELD_EVERY - 1) await turn();
  }
  const out = Buffer.allocUnsafe(size);
  const names = m.bytes;
  let p = 0;
  for (let id = from; id < m.size; id++) {
    for (let i = m.start(id), e = m.end(id); i < e; i++) out[p++] = names[i]!;
    out[p++] = 9;
    const d = timeBytes(m.time(id));
    for (let i = 0; i < d.length; i++) out[p++] = d[i]!;
    out[p++] = 10;
    if (id % YIELD_EVERY === YIELD_EVERY - 1) await turn();
  }
  return out;
}

/**
 * At a clean stop: writes `m` as an image beside the TSV file of `source` for the next start
 * (readTableImage), when the file holds exactly `m` (what the last save left, `saved`, is the
 * whole table and the file is still that size); false when it does not. Written whole to a
 * temporary file and renamed; no fsync: an image is a cache, a damaged or missing one only means
 * the TSV file is parsed.
 */
export function saveTableImage(dir: string, source: SourceRef, m: NameTable, saved: SavedTable | null): boolean {
  const tsv = file(dir, source);
  const p = m.toParts();
  if (p.n === 0 || saved === null || saved.names !== p.n || sizeOf(tsv) !== saved.bytes) return false;
  const header: ImageHeader = { v: IMAGE_VERSION, tsvBytes: saved.bytes, n: p.n, used: p.used, values: p.values, codes: p.codes !== null, full: p.full !== null };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(8);
  head.writeUInt32LE(IMAGE_MAGIC, 0);
  head.writeUInt32LE(json.length, 4);
  const bytes = (a: Uint8Array | Int32Array | Uint16Array | Float64Array, n: number): Buffer => Buffer.from(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
  const columns = [bytes(p.buf, p.used), bytes(p.ends, p.n), ...(p.codes !== null ? [bytes(p.codes, p.n)] : []), ...(p.full !== null ? [bytes(p.full, p.n)] : [])];
  const out = imageFile(tsv);
  const tmp = `${out}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600); // like every file of the state directory
  try {
    let pos = 0;
    for (const part of [head, json, ...columns]) {
      pos = part === head || part === json ? pos : align8(pos);
      writeSync(fd, part, 0, part.length, pos);
      pos += part.length;
    }
    // The file ends where the last column does (readTableImage checks the size): padding is only between.
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, out);
  return true;
}
