// Name helpers that never follow compression pointers: skipping a name only needs its own bytes.
import { MAX_LABEL_LEN, MAX_NAME_LEN } from './constants.js';

/** Offset just past the (possibly compressed) name at `off`, or -1 when malformed. */
export function skipName(msg: Uint8Array, off: number): number {
  const len = msg.length;
  let wire = 1;
  for (;;) {
    if (off >= len) return -1;
    const l = msg[off]!;
    if (l === 0) return off + 1;
    if ((l & 0xc0) === 0xc0) return off + 2 <= len ? off + 2 : -1;
    if (l > MAX_LABEL_LEN) return -1;
    wire += l + 1;
    if (wire > MAX_NAME_LEN) return -1;
    off += l + 1;
  }
}

/**
 * Presentation form of the uncompressed name at `start` (already validated), lower-cased, with
 * RFC 1035 §5.1 escapes for dots, backslashes and non-printable bytes inside a label: such a name
 * must never be confused with a listed domain. Shared so every name c2dns compares has one form.
 */
export function escapedName(msg: Uint8Array, start: number): string {
  let s = '';
  let off = start;
  for (;;) {
    const l = msg[off]!;
    if (l === 0) return s;
    if (s.length > 0) s += '.';
    for (let i = off + 1; i <= off + l; i++) {
      let b = msg[i]!;
      if (b >= 0x41 && b <= 0x5a) b |= 0x20;
      if (b === 0x2e || b === 0x5c) s += '\\' + String.fromCharCode(b);
      else if (b <= 0x20 || b >= 0x7f) s += '\\' + b.toString().padStart(3, '0');
      else s += String.fromCharCode(b);
    }
    off += l + 1;
  }
}

/** Wire form of a presentation name ("a.example.com", trailing dot optional, "" or "." = root). */
export function encodeName(name: string): Buffer {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return Buffer.from([0]);
  const labels = trimmed.split('.');
  const parts: number[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > MAX_LABEL_LEN) throw new Error(`bad label in name "${name}"`);
    parts.push(bytes.length, ...bytes);
  }
  parts.push(0);
  if (parts.length > MAX_NAME_LEN) throw new Error(`name too long: "${name}"`);
  return Buffer.from(parts);
}

/**
 * Byte offset, inside the question name starting at `start`, of the suffix that has `labels`
 * labels; -1 if the name has fewer. Lets a synthesized SOA owner point into the question.
 */
export function suffixOffset(msg: Buffer, start: number, labels: number): number {
  let count = 0;
  for (let off = start; ; ) {
    const l = msg[off]!;
    if (l === 0) break;
    count++;
    off += l + 1;
  }
  if (count < labels) return -1;
  let off = start;
  for (let skip = count - labels; skip > 0; skip--) off += msg[off]! + 1;
  return off;
}

/** Case-insensitive comparison of two literal question sections (name, type, class). */
export function sameQuestion(a: Buffer, aStart: number, b: Buffer, bStart: number, length: number): boolean {
  if (aStart + length > a.length || bStart + length > b.length) return false;
  const nameLen = length - 4; // the last four bytes are type and class: compared exactly
  for (let i = 0; i < length; i++) {
    let x = a[aStart + i]!;
    let y = b[bStart + i]!;
    if (x === y) continue;
    if (i >= nameLen) return false;
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}
