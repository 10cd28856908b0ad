// Shared start of the JSON feed formats (STIX, MISP): the whole text parsed, a BOM tolerated,
// and invalid JSON reported as one rejection (the feed layer then refuses the whole file).
import type { ParseReport } from './report.js';

/** The parsed document, or undefined after reporting why it is not JSON. */
export function parseJsonFeed(text: string, report: ParseReport): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown;
  } catch (e) {
    report.reject(0, text.slice(0, 200), `invalid JSON: ${(e as Error).message}`);
    return undefined;
  }
}
