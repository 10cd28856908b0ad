// Reading a first-seen table file (firstseen.ts has the format and where the files are). Apart,
// with nothing but the name table, so the list compile worker can read a restart's table in its
// own thread without loading the state store's modules.
import { readFileSync } from 'node:fs';
import { HASH_B, hashFinish, NameTable } from '../blocklist/names.js';

/** Names interned per batch: their index slots are read first, in one loop where the misses overlap. */
const BATCH = 256;

/** The table in `f`, a file as saveFirstSeen writes it (earlier versions' too). */
export function readFirstSeen(f: string): NameTable {
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
    // Every line is written with its newline: one without is an append cut short (saveFirstSeen).
    if (eol < 0) break;
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

