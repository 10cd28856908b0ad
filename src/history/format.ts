// On-disk format of the query history, shared by the recorder (writer) and the hunt (reader).
//
// A segment file covers one time slot (history.segmentMinutes, aligned to the clock). It is an
// append-only sequence of frames so the segment being written is always readable (a retro-hunt
// right after a feed refresh must see the last minutes) and a crash loses at most the unflushed
// buffer; a torn last frame is simply not read.
//
//   header   8 bytes magic "C2DNSH01", f64 LE slot start (epoch ms)
//   frame    u8 type, u32 LE payload length, payload
//     STRINGS  u8 kind, u32 count, count × (u16 length, bytes): new table entries, ids implicit
//              (0, 1, 2… per kind, in order of appearance)
//     RECORDS  u32 n, then 16 byte planes of n bytes each (plane k holds byte k of every record)
//
// Record (16 bytes): u32 time (ms after slot start), u24 name id, u16 client id, u24 answer id
// (0 = no A/AAAA in the answer, else table index + 1), u16 qtype, u8 rcode (255 = nothing sent),
// u8 action id. Planes instead of rows because gzip then sees long runs of similar bytes
// (qtype, rcode, action, the high bytes of ids and times): a record gzips to ~5.4 bytes instead of
// ~9.7 as rows (measured on the benchmark's history).
//
// Size (bench/hunt.mjs, 10M queries from 2,000 clients over 200,000 distinct names): 12-15 bytes
// a query once gzip'ed (level 1; 11-14 at level 6), i.e. ~120-153 MB per 10M queries (1 to 7 days
// of it); 26-35 bytes a query in the open, uncompressed segment. The name tables are most of it:
// a name is stored once per segment that saw it.
//
// Names: open segment  q-<slotStart>-<tag>.c2h
//        closed        q-<slotStart>-<tag>-<lastRecordTime>.c2h.gz   (gzip of the same bytes)
// <tag> keeps two writers (or a rotation within the same millisecond) from colliding.
//
// Query names are stored as the DNS reader gives them (lower case, no trailing dot); indicators
// are normalised by the blocklist's own normaliser (history/indicators.ts), not here.

export const MAGIC = 'C2DNSH01';
export const HEADER_LEN = 16;
export const FRAME_HEADER_LEN = 5;
export const FRAME_STRINGS = 1;
export const FRAME_RECORDS = 2;
export const RECORD_LEN = 16;

export const KIND_NAME = 1;
export const KIND_CLIENT = 2;
export const KIND_ANSWER = 3;
export const KIND_ACTION = 4;

/** Byte offsets of the fields in a record (= plane numbers). */
export const P_TIME = 0;
export const P_NAME = 4;
export const P_CLIENT = 7;
export const P_ANSWER = 9;
export const P_QTYPE = 12;
export const P_RCODE = 14;
export const P_ACTION = 15;

/** Id space per table, fixed by the record layout; a full table rotates the segment. */
export const MAX_NAMES = 0xffffff;
export const MAX_CLIENTS = 0xffff;
export const MAX_ANSWERS = 0xfffffe; // answer ids are stored +1
export const MAX_ACTIONS = 0xff;
export const RCODE_NONE = 255;

export interface SegmentFile {
  file: string;
  tag: string;
  /** Slot start, epoch ms. */
  start: number;
  /** Time of the last record for a closed segment; Infinity while open (or left open by a crash). */
  end: number;
  closed: boolean;
}

const SEGMENT_RE = /^q-(\d+)-([0-9a-z]+)(?:-(\d+))?\.c2h(\.gz)?$/;

export function openSegmentName(start: number, tag: string): string {
  return `q-${start}-${tag}.c2h`;
}

export function closedSegmentName(start: number, tag: string, end: number): string {
  return `q-${start}-${tag}-${end}.c2h.gz`;
}

/**
 * The segments of a directory listing. When both the raw and the gzip'ed copy of a segment exist
 * (compression finished, raw file not yet deleted) only the gzip'ed one counts, so nothing is
 * read twice.
 */
export function parseSegmentNames(files: readonly string[]): SegmentFile[] {
  const closedKeys = new Set<string>();
  const parsed: (SegmentFile & { key: string })[] = [];
  for (const file of files) {
    const m = SEGMENT_RE.exec(file);
    if (m === null) continue;
    const closed = m[4] !== undefined && m[3] !== undefined;
    if (m[4] !== undefined && m[3] === undefined) continue; // malformed: gzip without end time
    const key = `${m[1]}-${m[2]}`;
    if (closed) closedKeys.add(key);
    parsed.push({ file, tag: m[2]!, start: Number(m[1]), end: closed ? Number(m[3]) : Infinity, closed, key });
  }
  return parsed
    .filter((s) => s.closed || !closedKeys.has(s.key))
    .map(({ file, tag, start, end, closed }) => ({ file, tag, start, end, closed }))
    .sort((a, b) => a.start - b.start || a.file.localeCompare(b.file));
}

export function encodeHeader(start: number): Buffer {
  const b = Buffer.alloc(HEADER_LEN);
  b.write(MAGIC, 0, 'latin1');
  b.writeDoubleLE(start, 8);
  return b;
}

