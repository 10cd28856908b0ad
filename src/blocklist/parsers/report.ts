// What a parser tells besides its entries: lines it could not use (counted, first few kept with
// line numbers), lines it deliberately ignored by category (cosmetic rules, hashes, e-mails…),
// triggers it does not support, and the IPs it found (they never go into the name trie).
import type { IpEntry } from '../rule.js';

export interface RejectedLine {
  line: number;
  text: string;
  reason: string;
}

export class ParseReport {
  accepted = 0;
  rejected = 0;
  readonly examples: RejectedLine[] = [];
  /** Non-DNS or out-of-scope content, by category, e.g. { cosmetic: 12, sha256: 3 }. */
  readonly ignored: Record<string, number> = {};
  /** Triggers/rules of a known kind c2dns cannot enforce (e.g. RPZ NSDNAME), counted and shown. */
  unsupported = 0;
  readonly unsupportedExamples: RejectedLine[] = [];
  readonly ips: IpEntry[] = [];

  constructor(private readonly maxExamples = 20) {}

  reject(line: number, text: string, reason: string): void {
    this.rejected++;
    if (this.examples.length < this.maxExamples) this.examples.push({ line, text: text.slice(0, 200), reason });
  }

  ignore(category: string): void {
    this.ignored[category] = (this.ignored[category] ?? 0) + 1;
  }

  unsupportedRule(line: number, text: string, reason: string): void {
    this.unsupported++;
    if (this.unsupportedExamples.length < this.maxExamples) this.unsupportedExamples.push({ line, text: text.slice(0, 200), reason });
  }
}
