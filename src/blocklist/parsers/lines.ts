// Shared line handling for line-oriented list formats: BOM, CRLF and '#' comments. No regex and
// no string per line: the hot loops of the plain and hosts scanners work on ranges of the text.
import type { ListEntry } from '../rule.js';

/** Where a line scan stopped, to resume it (big lists are scanned in slices between which the server answers queries). */
export interface LineCursor {
  pos: number;
  line: number;
}

/**
 * Calls `fn` with the range [start, end) and 1-based number of every line of `text`: a leading
 * BOM is skipped, and \r\n, \n and \r each end a line (as split(/\r?\n|\r/) would). With
 * `maxLines`, stops after that many lines and returns where to resume; null when done.
 */
export function eachLineRange(
  text: string,
  fn: (start: number, end: number, lineNo: number) => void,
  from: LineCursor | null = null,
  maxLines = Infinity,
): LineCursor | null {
  const len = text.length;
  let pos = from !== null ? from.pos : text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let lf = -1;
  let cr = -1;
  const first = from !== null ? from.line : 1;
  for (let line = first; ; line++) {
    if (line - first >= maxLines) return { pos, line };
    if (lf < pos) {
      lf = text.indexOf('\n', pos);
      if (lf < 0) lf = len;
    }
    if (cr < pos) {
      cr = text.indexOf('\r', pos);
      if (cr < 0) cr = len;
    }
    const eol = lf < cr ? lf : cr;
    fn(pos, eol, line);
    if (eol >= len) return null;
    pos = eol + (text.charCodeAt(eol) === 13 && text.charCodeAt(eol + 1) === 10 ? 2 : 1);
  }
}

/** Calls `fn` with each non-empty, comment-stripped line and its 1-based number. */
export function forEachLine(text: string, fn: (content: string, lineNo: number, raw: string) => void): void {
  eachLineRange(text, (start, end, lineNo) => {
    const raw = text.slice(start, end);
    const hash = raw.indexOf('#');
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content !== '') fn(content, lineNo, raw);
  });
}

/**
 * Where the plain and hosts scanners hand their results: a name already in normalised form as a
 * range of the text (nothing allocated), anything else as an entry.
 */
export interface NameSink {
  /**
   * text[start, end) is a normalised name (isCanonicalName), hash its hashRange: a bare name from
   * `line`. `scanned` (domain.ts) describes it: scanName() was the last to run over it.
   */
  name(start: number, end: number, line: number, hash: number): void;
  entry(e: ListEntry): void;
}

export function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}
