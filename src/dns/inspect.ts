// What a response-policy stage must check in an upstream answer: the names a client is sent on to
// (CNAME/DNAME targets, SVCB/HTTPS TargetNames), the addresses, and additional records about
// other names. Unlike relay.ts this module follows compression pointers, because names inside
// RDATA are what matter here; pointers are only followed backwards and every read is bounded.
import { HEADER_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, RType } from './constants.js';
import { escapedName, skipName } from './names.js';

export type NameVia = 'cname' | 'dname' | 'svcb-target';

export interface ReachedName {
  /** Lower-cased presentation form, as ParsedQuery.name. */
  name: string;
  via: NameVia;
  /** Owner name of the record that leads to `name`. */
  from: string;
}

export interface AnswerFacts {
  /**
   * CNAME/DNAME targets and SVCB/HTTPS TargetNames in the answer section, in record order,
   * deduplicated by name (first record wins). Owners of chained records are not repeated: each is
   * the target of its predecessor, which `chainTo` follows. The root is never reported.
   */
  names: ReachedName[];
  /** A (4 bytes) / AAAA (16 bytes) rdata in the answer section; `bytes` is a view into the wire. */
  addresses: { owner: string; bytes: Uint8Array }[];
  /** Additional-section records whose owner is not the qname: index within that section and owner. */
  additional: { index: number; name: string }[];
  /** true when nothing needs checking (names, addresses and additional all empty, nothing capped). */
  empty: boolean;
  /**
   * Set when the answer or additional section held more than MAX_INSPECTED records: the rest were
   * not looked at, so an empty result does not prove the answer clean.
   */
  capped?: true;
}

/** Records looked at per section: bounds the work an upstream answer can cause. */
export const MAX_INSPECTED = 64;

/** DNAME (RFC 6672); not in RType, which lists what the rest of c2dns uses. */
const DNAME = 39;

/** Pointer hops per name. Targets strictly decrease so loops are impossible; this is a backstop. */
const MAX_HOPS = 128;

// Shared answer for the common case, so it costs no allocation. Frozen: callers must not mutate.
const EMPTY: AnswerFacts = Object.freeze({
  names: Object.freeze([]) as unknown as ReachedName[],
  addresses: Object.freeze([]) as unknown as AnswerFacts['addresses'],
  additional: Object.freeze([]) as unknown as AnswerFacts['additional'],
  empty: true,
}) as AnswerFacts;

// Scratch for one decoded name: `flat` holds its uncompressed wire form in the original case
// (escapedName input, and what withoutAdditional writes), `text` the lower-cased dotted form used
// when no label needs escaping. One string allocation per name, like parseQuery.
const flat = new Uint8Array(MAX_NAME_LEN);
const text = Buffer.allocUnsafe(MAX_NAME_LEN);
let flatLen = 0;
let textLen = 0;
let textPlain = true;

// The qname's flat form, filled lazily: only additional owners are compared with it.
const qflat = new Uint8Array(MAX_NAME_LEN);
let qflatLen = -1;

// Owner strings keyed by the pointer an owner consists of: consecutive records of an RRset share
// it, so an answer of eight A records decodes its owner once. Valid for one message only.
let memoTarget = -1;
let memoText = '';

/**
 * Decodes the name at `off` into the scratch buffers, following compression pointers. Returns the
 * offset just past the name where it starts, or -1 when malformed: a pointer that is not strictly
 * before the labels that led to it (forward, self or loop) or into the header, a reserved label
 * type, more than 255 bytes uncompressed, or any read past the end.
 */
function flatten(msg: Uint8Array, off: number): number {
  const len = msg.length;
  let end = -1;
  let seg = off; // start of the labels being read; a pointer must land before it
  let hops = 0;
  let f = 0;
  let t = 0;
  let plain = true;
  for (;;) {
    if (off >= len) return -1;
    const l = msg[off]!;
    if (l === 0) {
      flat[f++] = 0;
      if (end < 0) end = off + 1;
      break;
    }
    if ((l & 0xc0) === 0xc0) {
      if (off + 1 >= len) return -1;
      const target = ((l & 0x3f) << 8) | msg[off + 1]!;
      if (target >= seg || target < HEADER_LEN || ++hops > MAX_HOPS) return -1;
      if (end < 0) end = off + 2;
      off = seg = target;
      continue;
    }
    if (l > MAX_LABEL_LEN) return -1;
    // Room for this label, its length byte and the final root byte (same limit as skipName).
    if (f + l + 2 > MAX_NAME_LEN || off + 1 + l > len) return -1;
    flat[f++] = l;
    if (t > 0) text[t++] = 0x2e;
    for (let i = off + 1, stop = off + 1 + l; i < stop; i++) {
      let b = msg[i]!;
      flat[f++] = b;
      if (b >= 0x41 && b <= 0x5a) b |= 0x20;
      else if (b <= 0x20 || b >= 0x7f || b === 0x2e || b === 0x5c) plain = false;
      text[t++] = b;
    }
    off += 1 + l;
  }
  flatLen = f;
  textLen = t;
  textPlain = plain;
  return end;
}

/** The name last decoded by flatten, in ParsedQuery.name form. */
function flatText(): string {
  return textPlain ? text.toString('latin1', 0, textLen) : escapedName(flat, 0);
}

/** Owner name of the record at `off`, reusing the previous string when it is the same pointer. */
function ownerText(msg: Uint8Array, off: number): string | null {
  const b = msg[off]!;
  if ((b & 0xc0) === 0xc0 && off + 1 < msg.length) {
    const target = ((b & 0x3f) << 8) | msg[off + 1]!;
    if (target === memoTarget) return memoText;
    if (flatten(msg, off) < 0) return null;
    memoTarget = target;
    memoText = flatText();
    return memoText;
  }
  return flatten(msg, off) < 0 ? null : flatText();
}

/** Decodes the question name into qflat once per message (only additional owners need it). */
function loadQname(msg: Uint8Array): boolean {
  if (qflatLen >= 0) return true;
  if (flatten(msg, HEADER_LEN) < 0) return false;
  qflat.set(flat.subarray(0, flatLen));
  qflatLen = flatLen;
  return true;
}

/** Is the name last decoded by flatten the qname (case-insensitively)? */
function flatIsQname(): boolean {
  if (flatLen !== qflatLen) return false;
  for (let i = 0; i < flatLen; i++) {
    let x = flat[i]!;
    let y = qflat[i]!;
    if (x === y) continue;
    // Length bytes are at most 63, below 'A', so folding only ever touches label bytes.
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

function u16(msg: Uint8Array, off: number): number {
  return (msg[off]! << 8) | msg[off + 1]!;
}

/**
 * Facts about an upstream answer as stored by relay.ts (no OPT; `qEnd` is past the question),
 * or null when the message is malformed. `qname`: the question's name in ParsedQuery.name form
 * when the caller has it (the response stage), so owners that are the question are not decoded
 * again: a name decoded costs ~60 instructions a byte, and an answer's owners are mostly the
 * question (callgrind, the bench's miss answer: 3 names decoded -> 1).
 */
export function inspectAnswer(wire: Uint8Array, qEnd: number, qname: string | null = null): AnswerFacts | null {
  const len = wire.length;
  if (len < HEADER_LEN || u16(wire, 4) !== 1) return null;
  const qNameEnd = skipName(wire, HEADER_LEN);
  if (qNameEnd < 0 || qNameEnd + 4 !== qEnd || qEnd > len) return null;
  const an = u16(wire, 6);
  const ns = u16(wire, 8);
  const ar = u16(wire, 10);
  // The question's name as owner text: a pointer to it (the usual owner) needs no decoding.
  memoTarget = qname === null ? -1 : HEADER_LEN;
  memoText = qname ?? '';
  qflatLen = -1;

  let names: ReachedName[] | null = null;
  let addresses: AnswerFacts['addresses'] | null = null;
  let additional: AnswerFacts['additional'] | null = null;
  let off = qEnd;
  for (let i = 0; i < an; i++) {
    const start = off;
    off = skipName(wire, off);
    if (off < 0 || off + 10 > len) return null;
    const type = u16(wire, off);
    const rd = off + 10;
    const next = rd + u16(wire, off + 8);
    if (next > len) return null;
    off = next;
    if (i >= MAX_INSPECTED) continue; // still walked: the additional section lies beyond
    if (type === RType.A || type === RType.AAAA) {
      if (next - rd !== (type === RType.A ? 4 : 16)) return null;
      const owner = ownerText(wire, start);
      if (owner === null) return null;
      (addresses ??= []).push({ owner, bytes: wire.subarray(rd, next) });
      continue;
    }
    let via: NameVia;
    let nameEnd: number;
    if (type === RType.CNAME || type === DNAME) {
      via = type === RType.CNAME ? 'cname' : 'dname';
      nameEnd = flatten(wire, rd);
      if (nameEnd !== next) return null; // the rdata is exactly one name
    } else if (type === RType.SVCB || type === RType.HTTPS) {
      via = 'svcb-target';
      if (next - rd < 3) return null; // SvcPriority and at least the root
      nameEnd = flatten(wire, rd + 2);
      if (nameEnd < 0 || nameEnd > next) return null;
    } else {
      continue;
    }
    // The root leads nowhere: "." as a TargetName means the owner itself (RFC 9460 §2.5).
    if (textLen === 0) continue;
    const name = flatText();
    if (names !== null && names.some((n) => n.name === name)) continue;
    const from = ownerText(wire, start);
    if (from === null) return null;
    (names ??= []).push({ name, via, from });
  }
  for (let i = 0; i < ns; i++) {
    off = skipName(wire, off);
    if (off < 0 || off + 10 > len) return null;
    off += 10 + u16(wire, off + 8);
    if (off > len) return null;
  }
  const arLook = ar < MAX_INSPECTED ? ar : MAX_INSPECTED;
  for (let i = 0; i < arLook; i++) {
    const start = off;
    off = skipName(wire, off);
    if (off < 0 || off + 10 > len) return null;
    const type = u16(wire, off);
    off += 10 + u16(wire, off + 8);
    if (off > len) return null;
    if (type === RType.OPT) continue;
    // Cheapest case first: an owner that is the pointer to the question name.
    if (wire[start] === 0xc0 && wire[start + 1] === HEADER_LEN) continue;
    if (qname !== null) {
      // The same test as flatIsQname: both texts are lower-cased and escaped alike.
      if (flatten(wire, start) < 0) return null;
      const name = flatText();
      if (name !== qname) (additional ??= []).push({ index: i, name });
      continue;
    }
    if (!loadQname(wire) || flatten(wire, start) < 0) return null;
    if (flatIsQname()) continue;
    (additional ??= []).push({ index: i, name: flatText() });
  }
  const capped = an > MAX_INSPECTED || ar > MAX_INSPECTED;
  if (names === null && addresses === null && additional === null && !capped) return EMPTY;
  const facts: AnswerFacts = {
    names: names ?? [],
    addresses: addresses ?? [],
    additional: additional ?? [],
    empty: false,
  };
  if (capped) facts.capped = true;
  return facts;
}

// RDATA layouts with domain names that a sender may compress (RFC 3597 §4, plus the types it asks
// receivers to decompress anyway): bytes before the first name, and how many names follow.
const NAME_RDATA = new Map<number, readonly [prefix: number, names: number]>([
  [RType.NS, [0, 1]],
  [3, [0, 1]], // MD
  [4, [0, 1]], // MF
  [RType.CNAME, [0, 1]],
  [RType.SOA, [0, 2]],
  [7, [0, 1]], // MB
  [8, [0, 1]], // MG
  [9, [0, 1]], // MR
  [RType.PTR, [0, 1]],
  [14, [0, 2]], // MINFO
  [RType.MX, [2, 1]],
  [17, [0, 2]], // RP
  [18, [2, 1]], // AFSDB
  [21, [2, 1]], // RT
  [26, [2, 2]], // PX
  [RType.SRV, [6, 1]],
]);

/**
 * A copy of the message without the additional records whose indexes are in `drop`, ARCOUNT
 * fixed. Bytes before the first dropped record keep their offsets, so pointers to them stay valid;
 * a name (owner or known RDATA name) whose pointer reaches the removed or shifted part is written
 * out uncompressed instead. The TTL offsets of the result differ: index it anew (storeResponse).
 * Throws a RangeError on a message inspectAnswer would reject, or a name it cannot rewrite.
 */
export function withoutAdditional(wire: Uint8Array, qEnd: number, drop: ReadonlySet<number>): Buffer {
  const len = wire.length;
  if (len < HEADER_LEN || qEnd > len) throw new RangeError('malformed DNS message');
  const before = u16(wire, 6) + u16(wire, 8);
  const ar = u16(wire, 10);
  const starts: number[] = [];
  let off = qEnd;
  for (let i = 0; i < before + ar; i++) {
    starts.push(off);
    off = skipName(wire, off);
    if (off < 0 || off + 10 > len) throw new RangeError('malformed DNS message');
    off += 10 + u16(wire, off + 8);
    if (off > len) throw new RangeError('malformed DNS message');
  }
  starts.push(off);
  let first = -1;
  for (let j = 0; j < ar; j++) {
    if (drop.has(j)) {
      first = j;
      break;
    }
  }
  if (first < 0) return Buffer.from(wire);
  const cut = starts[before + first]!;
  const chunks: Uint8Array[] = [wire.subarray(0, qEnd)];
  let kept = 0;
  for (let i = 0; i < before + ar; i++) {
    if (i >= before) {
      if (drop.has(i - before)) continue;
      kept++;
    }
    copyRecord(wire, starts[i]!, starts[i + 1]!, cut, chunks);
  }
  const out = Buffer.concat(chunks);
  out.writeUInt16BE(kept, 10);
  return out;
}

/** Appends one record, rewriting names that point at or past `cut`. */
function copyRecord(wire: Uint8Array, start: number, next: number, cut: number, chunks: Uint8Array[]): void {
  const ownerEnd = skipName(wire, start);
  copyName(wire, start, ownerEnd, cut, chunks);
  const rd = ownerEnd + 10;
  const layout = NAME_RDATA.get(u16(wire, ownerEnd));
  if (layout === undefined) {
    chunks.push(wire.subarray(ownerEnd, next));
    return;
  }
  // Names inside the RDATA: lay them out first, so a record that does not fit its type is copied
  // as it is (a client rejects it either way, and we cannot tell where its names are).
  const parts: Uint8Array[] = [];
  let pos = rd + layout[0];
  if (pos > next) {
    chunks.push(wire.subarray(ownerEnd, next));
    return;
  }
  parts.push(wire.subarray(rd, pos));
  for (let k = 0; k < layout[1]; k++) {
    const end = skipName(wire, pos);
    if (end < 0 || end > next) {
      chunks.push(wire.subarray(ownerEnd, next));
      return;
    }
    copyName(wire, pos, end, cut, parts);
    pos = end;
  }
  parts.push(wire.subarray(pos, next));
  let rdlen = 0;
  for (const p of parts) rdlen += p.length;
  if (rdlen > 0xffff) throw new RangeError('record too long once decompressed');
  const fixed = Buffer.from(wire.subarray(ownerEnd, rd));
  fixed.writeUInt16BE(rdlen, 8);
  chunks.push(fixed, ...parts);
}

/** Appends the name at [start, end): verbatim, or uncompressed when its pointer reaches `cut`. */
function copyName(wire: Uint8Array, start: number, end: number, cut: number, chunks: Uint8Array[]): void {
  // Pointer targets strictly decrease along a name, so its first pointer reaches furthest.
  let off = start;
  let target = -1;
  while (off < end) {
    const l = wire[off]!;
    if (l === 0) break;
    if ((l & 0xc0) === 0xc0) {
      target = ((l & 0x3f) << 8) | wire[off + 1]!;
      break;
    }
    off += l + 1;
  }
  if (target < cut) {
    chunks.push(wire.subarray(start, end));
    return;
  }
  if (flatten(wire, start) < 0) throw new RangeError('malformed name in DNS message');
  chunks.push(flat.slice(0, flatLen));
}

/**
 * The names from `qname` to `target` along the `from` → `name` links of `facts` (shortest path),
 * for log text like "a -> b -> c2.example"; [qname, target] when there is no such path. A DNAME
 * link applies to its owner and every name below it.
 */
export function chainTo(facts: AnswerFacts, qname: string, target: string): string[] {
  if (qname === target) return [qname];
  const links = facts.names;
  const prev = new Map<string, string | null>([[qname, null]]);
  let frontier = [qname];
  while (frontier.length > 0) {
    const nextFrontier: string[] = [];
    for (const cur of frontier) {
      for (const link of links) {
        if (prev.has(link.name)) continue;
        const applies = link.from === cur || (link.via === 'dname' && under(cur, link.from));
        if (!applies) continue;
        prev.set(link.name, cur);
        if (link.name === target) return pathTo(prev, target);
        nextFrontier.push(link.name);
      }
    }
    frontier = nextFrontier;
  }
  return [qname, target];
}

function under(name: string, apex: string): boolean {
  return apex === '' || (name.length > apex.length && name.endsWith(apex) && name[name.length - apex.length - 1] === '.');
}

function pathTo(prev: Map<string, string | null>, target: string): string[] {
  const path = [target];
  for (let n = prev.get(target) ?? null; n !== null; n = prev.get(n) ?? null) path.push(n);
  return path.reverse();
}
