// Reading a first-seen table file (firstseen.ts has the format and where the files are). Apart,
// with nothing but the name table, so the list compile worker can read a restart's table in its
// own thread without loading the state store's modules.
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync, unlinkSync } from 'node:fs';
import { HASH_B, hashFinish, indexNames, NameTable } from '../blocklist/names.js';

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


/** A table image (saveTableImage in firstseen.ts): "C2FS", a header length, the header, the columns. */
export const IMAGE_MAGIC = 0x53463243;
export const IMAGE_VERSION = 1;

/** What an image's header says: the TSV file's size it was written for, and the columns' shape. */
export interface ImageHeader {
  v: number;
  tsvBytes: number;
  n: number;
  used: number;
  values: number[];
  codes: boolean;
  full: boolean;
}

/** Where the image of the table in `tsv` (STEM.first-seen.tsv) is: STEM.first-seen.bin. */
export function imageFile(tsv: string): string {
  return tsv.replace(/\.tsv$/, '') + '.bin';
}

/** Columns start at multiples of 8 bytes. */
export const align8 = (n: number): number => (n + 7) & ~7;

function readAt(fd: number, into: ArrayBufferView, pos: number): void {
  const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  for (let got = 0; got < bytes.length; ) {
    const r = readSync(fd, bytes, got, bytes.length - got, pos + got);
    if (r === 0) throw new Error('image cut short');
    got += r;
  }
}

/**
 * The table a clean stop left beside its TSV file, when there is one written for the file as it
 * is now (its size); null otherwise. Removed once read: an image serves the one start after the
 * stop that wrote it, so a later append, rewrite or crash never leaves a stale one. A few reads
 * straight into the columns, and their index built (indexNames), instead of parsing every line:
 * at 1M names ~0.35-0.75 s of CPU at each restart.
 */
export function readTableImage(tsv: string): NameTable | null {
  const f = imageFile(tsv);
  let fd: number;
  try {
    fd = openSync(f, 'r');
  } catch {
    return null;
  }
  try {
    const head = new Uint8Array(8);
    readAt(fd, head, 0);
    const dv = new DataView(head.buffer);
    if (dv.getUint32(0, true) !== IMAGE_MAGIC) return null;
    const json = new Uint8Array(dv.getUint32(4, true));
    readAt(fd, json, 8);
    const h = JSON.parse(Buffer.from(json).toString('utf8')) as ImageHeader;
    if (h.v !== IMAGE_VERSION || h.tsvBytes !== statSync(tsv).size) return null;
    let end = 8 + json.length;
    const column = <T extends Uint8Array | Int32Array | Uint16Array | Float64Array>(a: T): T => {
      const pos = align8(end);
      readAt(fd, a, pos);
      end = pos + a.byteLength;
      return a;
    };
    const buf = column(new Uint8Array(h.used));
    const ends = column(new Int32Array(h.n));
    const codes = h.codes ? column(new Uint16Array(h.n)) : null;
    const full = h.full ? column(new Float64Array(h.n)) : null;
    if (end !== fstatSync(fd).size) return null;
    // The start's first compile looks every listed name up in it at once: its index is needed now.
    return NameTable.fromParts({ buf, used: h.used, ends, n: h.n, codes, full, values: h.values, index: indexNames(buf, ends, h.n, 1) });
  } catch {
    return null; // damaged: the TSV file is read instead
  } finally {
    closeSync(fd);
    try {
      unlinkSync(f);
    } catch {
      // a read-only state directory: the size check keeps a stale image from being used
    }
  }
}
