// The parser contract: text in, entries out; everything else goes to the report.
import type { ListEntry } from '../rule.js';
import type { ParseReport } from './report.js';

export interface ParseOptions {
  /** Epoch ms "now", for expiry decisions (STIX valid_until). */
  now: number;
  /** CSV: header names of the columns to read, for layouts c2dns does not know. */
  csvColumns?: { value: string; type?: string; id?: string; tags?: string; compromised?: string; confidence?: string };
  /** CSV (ThreatFox): rows with confidence_level below this are skipped. Default 0. */
  minConfidence?: number;
  /** MISP: also take domain/hostname/URL attributes whose to_ids is false (never IPs). Default false. */
  mispIncludeNonIds?: boolean;
}

export type Parser = (text: string, report: ParseReport, opts: ParseOptions) => ListEntry[];
