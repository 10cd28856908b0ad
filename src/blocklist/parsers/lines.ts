// Shared line handling for line-oriented list formats: BOM, CRLF and '#' comments.

/** Calls `fn` with each non-empty, comment-stripped line and its 1-based number. */
export function forEachLine(text: string, fn: (content: string, lineNo: number, raw: string) => void): void {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const hash = raw.indexOf('#');
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content !== '') fn(content, i + 1, raw);
  }
}
