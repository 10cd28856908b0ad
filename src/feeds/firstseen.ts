// When c2dns first saw each name of a source: provenance for `c2dns check`, and the clock for
// per-source maxAgeDays. One "name<TAB>epoch-ms" line per name, written atomically. In memory a
// NameTable (packed names, a time each), which the source's compiled rules use as their name
// store. Read and written as bytes, a million names in a fraction of a second.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicAsync } from '../storage/atomic.js';
import { join } from 'node:path';
import { HASH_B, hashFinish, NameTable } from '../blocklist/names.js';

function file(dir: string, source: string): string {
  return join(dir, `${source.replace(/[^A-Za-z0-9._-]/g, '_')}.first-seen.tsv`);
}

/** Names interned per batch: their index slots are read first, in one loop where the misses overlap. */
const BATCH = 256;

export function loadFirstSeen(dir: string, source: string): NameTable {
  const f = file(dir, source);
  if (!existsSync(f)) return new NameTable();
  const b = readFileSync(f);
  const len = b.length;
  const m = new NameTable(Math.ceil(len / 24) + 16, len);
  m.reserve(Math.ceil(len / 24) + 16, 0);
  const bStart = new Int32Array(BATCH);
  const bEnd = new Int32Array(BATCH);
  const bHash = new Int32Array(BATCH);
  const bTime = new Float64Array(BATCH);
  let n = 0;
  const flush = (): void => {
    for (let i = 0; i < n; i++) m.touch(bHash[i]!);
    // A name listed twice (never written so, but a file may be edited): the last time wins.
    for (let i = 0; i < n; i++) m.setTime(m.internBytes(bHash[i]!, b, bStart[i]!, bEnd[i]!, bTime[i]!), bTime[i]!);
    n = 0;
  };
  for (let pos = 0; pos < len; ) {
    let eol = b.indexOf(10, pos);
    if (eol < 0) eol = len;
    let end = eol;
    if (end > pos && b[end - 1] === 13) end--;
    // name: hash it while looking for the tab
    let h = 0;
    let tab = pos;
    for (; tab < end; tab++) {
      const c = b[tab]!;
      if (c === 9) break;
      h = (Math.imul(h, HASH_B) + c) | 0;
    }
    if (tab > pos && tab < end) {
      // time: plain decimal digits as written; anything else as Number() reads it
      let t = 0;
      let digits = tab + 1 < end;
      for (let i = tab + 1; i < end && digits; i++) {
        const c = b[i]! - 48;
        if (c < 0 || c > 9) digits = false;
        else t = t * 10 + c;
      }
      if (!digits || end - tab - 1 > 15) t = Number(b.toString('latin1', tab + 1, end));
      if (Number.isFinite(t)) {
        bStart[n] = pos;
        bEnd[n] = tab;
        bHash[n] = hashFinish(h);
        bTime[n] = t;
        if (++n === BATCH) flush();
      }
    }
    pos = eol + 1;
  }
  flush();
  m.compact();
  return m;
}

/** Writes the table (temp file + rename), yielding to the event loop every 50k names: a 1M-name list takes ~0.25 s of CPU. */
const YIELD_EVERY = 50_000;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function saveFirstSeen(dir: string, source: string, m: NameTable): Promise<void> {
  const f = file(dir, source);
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
  for (let id = 0; id < m.size; id++) {
    size += m.end(id) - m.start(id) + timeBytes(m.time(id)).length + 2;
    if (id % YIELD_EVERY === YIELD_EVERY - 1) await turn();
  }
  const out = Buffer.allocUnsafe(size);
  const names = m.bytes;
  let p = 0;
  for (let id = 0; id < m.size; id++) {
    for (let i = m.start(id), e = m.end(id); i < e; i++) out[p++] = names[i]!;
    out[p++] = 9;
    const d = timeBytes(m.time(id));
    for (let i = 0; i < d.length; i++) out[p++] = d[i]!;
    out[p++] = 10;
    if (id % YIELD_EVERY === YIELD_EVERY - 1) await turn();
  }
  await writeFileAtomicAsync(f, out);
}
