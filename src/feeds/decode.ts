// Raw feed bytes → the text a parser may see, or a FeedError saying why these bytes are not a
// list at all. Per-line problems (a stray NUL, a bad name) are the parser's to count; this
// judges the feed as a whole: compressed (A9), wrong encoding (A2), binary (A8), a web page
// instead of a list (A10), nothing in it (A11). Any failure here keeps the last good copy.
// Synchronous (zlib's sync API with an output cap): tens of milliseconds for a large feed, once
// per accepted update or start-up.
import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';
import { FeedError } from './errors.js';
import { unzipSingle } from './zip.js';

export interface DecodeOptions {
  /** Cap on the body and on what it decompresses to. */
  maxBytes: number;
  /** The HTTP Content-Type, when the body came over HTTP. */
  contentType?: string;
  /**
   * The source's format is line- or JSON-based (every format c2dns reads today), so a leading
   * '<' can only be markup. Set false for an XML-based format: then only HTML markers count.
   */
  lineFormat?: boolean;
  /** The feed may legitimately list nothing (A11): comments-only text is returned, not refused. */
  allowEmpty?: boolean;
}

/** Above this share of control bytes (NUL, ESC, …) the body is not text: an executable, image or archive. */
const BINARY_RATIO = 0.1;
/** Invalid UTF-8 together with more than this share of control bytes is junk rather than a mis-encoded list. */
const BINARY_RATIO_IF_INVALID = 0.01;

export function decodeFeed(body: Buffer, opts: DecodeOptions): string {
  const mediaType = opts.contentType?.split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'text/html' || mediaType === 'application/xhtml+xml') {
    throw new FeedError('html', `Content-Type is ${mediaType}: a web page (error, login or challenge page), not a list; expected text/plain or similar`);
  }
  if (body.length > opts.maxBytes) throw new FeedError('too-large', `feed is ${body.length} bytes; expected at most ${opts.maxBytes} (maxBytes)`);
  const text = toText(decompress(body, opts.maxBytes));
  rejectMarkup(text, opts.lineFormat ?? true);
  if (opts.allowEmpty !== true) rejectEmpty(text, body.length);
  return text;
}

// ---- compression (A9) ----

function decompress(body: Buffer, maxBytes: number): Buffer {
  let out: Buffer;
  if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) out = gunzip(body, maxBytes);
  else if (startsWith(body, [0x50, 0x4b, 0x03, 0x04])) out = unzipSingle(body, maxBytes);
  else if (startsWith(body, [0x50, 0x4b, 0x05, 0x06])) throw new FeedError('empty', 'an empty zip archive; expected a list (or a zip holding one)');
  else out = body;
  const other = otherCompression(out);
  if (other !== null) {
    const layer = out === body ? '' : ' inside the gzip/zip layer';
    throw new FeedError('decompression', `${other}-compressed data${layer} is not supported; expected plain text, gzip or a zip holding one file`);
  }
  return out;
}

function gunzip(body: Buffer, maxBytes: number): Buffer {
  try {
    // The output cap, not the input size, is what stops a gzip bomb (10 KB → 10 GB).
    return zlib.gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new FeedError('too-large', `gzip data inflates past ${maxBytes} bytes (a gzip bomb, or a feed over the cap); expected at most ${maxBytes} (maxBytes)`, { cause: err });
    if (code === 'Z_BUF_ERROR') throw new FeedError('truncated', `the gzip stream ends early (${body.length} bytes, cut short in transfer?); expected a complete gzip file`, { cause: err });
    throw new FeedError('decompression', `corrupt gzip data (${(err as Error).message}); expected a valid gzip file`, { cause: err });
  }
}

/** Compression formats seen on download sites that c2dns does not unpack; named for the message. */
function otherCompression(b: Buffer): string | null {
  if (startsWith(b, [0x1f, 0x8b])) return 'gzip'; // gzip inside gzip/zip
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04])) return 'zip';
  if (startsWith(b, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  if (startsWith(b, [0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  if (startsWith(b, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return '7z';
  // "BZh" + level + block magic (pi): a list line could start with "BZh9", not with all ten bytes.
  if (startsWith(b, [0x42, 0x5a, 0x68]) && startsWith(b.subarray(4), [0x31, 0x41, 0x59, 0x26, 0x53, 0x59])) return 'bzip2';
  return null;
}

function startsWith(b: Buffer, magic: readonly number[]): boolean {
  return b.length >= magic.length && magic.every((m, i) => b[i] === m);
}

// ---- encoding (A1, A2, A8) ----

function toText(b: Buffer): string {
  if (startsWith(b, [0xff, 0xfe, 0x00, 0x00]) || startsWith(b, [0x00, 0x00, 0xfe, 0xff])) {
    throw new FeedError('encoding', 'UTF-32 text (byte-order mark at the start) is not supported; expected UTF-8 or UTF-16 with a BOM');
  }
  if (startsWith(b, [0xef, 0xbb, 0xbf])) return utf8(b.subarray(3));
  if (startsWith(b, [0xff, 0xfe])) return utf16(b.subarray(2), 'LE');
  if (startsWith(b, [0xfe, 0xff])) return utf16(b.subarray(2), 'BE');
  const bomless = bomlessUtf16(b);
  if (bomless !== null) {
    // Transcoding on a guess could invent a list; with a BOM there is no guess.
    throw new FeedError('encoding', `looks like UTF-16${bomless} without a byte-order mark (every other byte is NUL); expected UTF-8, or UTF-16 starting with a BOM`);
  }
  return utf8(b);
}

function utf8(b: Buffer): string {
  const ratio = controlRatio(b);
  if (ratio > BINARY_RATIO) throw binary(ratio);
  if (!isUtf8(b)) {
    if (ratio > BINARY_RATIO_IF_INVALID) throw binary(ratio);
    const at = firstInvalidUtf8(b);
    const where = at >= 0 ? ` at byte ${at} (0x${b[at]!.toString(16).padStart(2, '0')}, line ${lineAt(b, at)})` : '';
    // Decoding leniently would turn Latin-1 "é" into U+FFFD and let a changed name through.
    throw new FeedError('encoding', `invalid UTF-8${where}; expected UTF-8 (convert Latin-1/Windows-1252 files first)`);
  }
  return b.toString('utf8');
}

function utf16(b: Buffer, order: 'LE' | 'BE'): string {
  if (b.length % 2 !== 0) throw new FeedError('encoding', `UTF-16${order} text with an odd number of bytes (${b.length + 2}; cut short?); expected whole 2-byte code units`);
  // swap16 works in place: copy first so the caller's buffer stays as received.
  const le = order === 'LE' ? b : Buffer.from(b).swap16();
  let text: string;
  try {
    text = new TextDecoder('utf-16le', { fatal: true }).decode(le);
  } catch (err) {
    throw new FeedError('encoding', `invalid UTF-16${order} (an unpaired surrogate); expected valid UTF-16`, { cause: err });
  }
  const ratio = controlRatioText(text);
  if (ratio > BINARY_RATIO) throw binary(ratio);
  return text;
}

function binary(ratio: number): FeedError {
  return new FeedError('binary', `${(ratio * 100).toFixed(1)}% of the content is NUL or other control bytes: binary data (an executable, image or archive), not a list; expected text`);
}

/** C0 controls other than TAB, LF, VT, FF, CR, plus DEL: never part of a text list. */
function isControl(c: number): boolean {
  return (c < 0x20 && (c < 0x09 || c > 0x0d)) || c === 0x7f;
}

/**
 * Share of control bytes in a sample: the first and last 64 KiB and 16 blocks between. Enough to
 * tell an executable or archive from text without a byte loop over a 100 MB list on every update.
 */
function controlRatio(b: Buffer): number {
  if (b.length === 0) return 0;
  const blocks: [number, number][] = [];
  if (b.length <= 256 * 1024) blocks.push([0, b.length]);
  else {
    blocks.push([0, 64 * 1024], [b.length - 64 * 1024, b.length]);
    const step = Math.floor((b.length - 128 * 1024) / 17);
    for (let k = 1; k <= 16; k++) blocks.push([64 * 1024 + k * step, 64 * 1024 + k * step + 4096]);
  }
  let n = 0;
  let total = 0;
  for (const [from, to] of blocks) {
    for (let i = from; i < to; i++) if (isControl(b[i]!)) n++;
    total += to - from;
  }
  return n / total;
}

function controlRatioText(s: string): number {
  if (s.length === 0) return 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) if (isControl(s.charCodeAt(i))) n++;
  return n / s.length;
}

/** 'LE'/'BE' when the first KiB has NUL in nearly every odd (LE) or even (BE) byte and not the other. */
function bomlessUtf16(b: Buffer): 'LE' | 'BE' | null {
  const pairs = Math.floor(Math.min(b.length, 1024) / 2);
  if (pairs < 2) return null;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < pairs * 2; i += 2) {
    if (b[i] === 0) evenNul++;
    if (b[i + 1] === 0) oddNul++;
  }
  if (oddNul / pairs > 0.4 && evenNul / pairs < 0.05) return 'LE';
  if (evenNul / pairs > 0.4 && oddNul / pairs < 0.05) return 'BE';
  return null;
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence, for the message. */
function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0 || i + n >= b.length) return i;
    for (let k = 1; k <= n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    const c1 = b[i + 1]!;
    // Overlong forms, UTF-16 surrogates, code points past U+10FFFF.
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return i;
    i += n + 1;
  }
  return -1;
}

function lineAt(b: Buffer, offset: number): number {
  let line = 1;
  for (let i = b.indexOf(0x0a); i >= 0 && i < offset; i = b.indexOf(0x0a, i + 1)) line++;
  return line;
}

// ---- web pages instead of lists (A10) ----

function rejectMarkup(text: string, lineFormat: boolean): void {
  const head = text.slice(0, 4096).trimStart();
  const lower = head.slice(0, 1024).toLowerCase();
  const first = JSON.stringify(head.slice(0, 60));
  const isHtml =
    lower.startsWith('<!doctype') ||
    /^<(html|head|body)[\s>/]/.test(lower) ||
    (lower.startsWith('<?xml') && (lower.includes('<html') || lower.includes('xhtml')));
  if (isHtml) throw new FeedError('html', `the body is an HTML page (starts ${first}): an error, login or challenge page, not a list; expected list text`);
  if (lineFormat && head.startsWith('<')) {
    throw new FeedError('html', `the body starts with '<' (${first}): markup, not a list; expected list text (set lineFormat: false for XML formats)`);
  }
  // GitHub raw answers "404: Not Found"; proxies "429 Too Many Requests". No list line looks like that.
  if (text.length > 200) return;
  const whole = text.trim();
  if (/^[1-5]\d\d(:\s*|\s+)[A-Za-z][A-Za-z' -]*$/.test(whole)) {
    throw new FeedError('html', `the body is an HTTP error message (${JSON.stringify(whole)}), not a list; expected list text`);
  }
}

// ---- nothing in it (A11) ----

/** Comment markers across the line formats: '#' (hosts, plain, CSV), '!' (AdGuard/ABP), ';' (zone files). */
const COMMENT = /^[#!;]/;
/** "[Adblock Plus 2.0]": the header line of an ABP list, not an entry. */
const ABP_HEADER = /^\[adblock[^\]]*\]$/i;

function rejectEmpty(text: string, bytes: number): void {
  let lines = 0;
  let sample: string | null = null;
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    for (const part of text.slice(start, end).split('\r')) {
      const l = part.trim();
      if (l === '') continue;
      if (!COMMENT.test(l) && !ABP_HEADER.test(l)) return;
      lines++;
      sample ??= l.slice(0, 80);
    }
    start = end + 1;
  }
  if (lines === 0) throw new FeedError('empty', `the feed has no content (${bytes} bytes, blank); expected at least one entry`);
  throw new FeedError('empty', `the feed has only comments (${lines} comment lines, first ${JSON.stringify(sample)}) and no entries; expected at least one entry`);
}
