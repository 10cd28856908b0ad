// The last good copy of each source on disk, so a failed update or a restart while a feed is
// down never leaves c2dns without its list; plus a small status file per source for
// `c2dns lists`. A source is a list name AND its location (URL or path): re-pointing a list to
// another file or URL starts a new copy, and the old location's copy is never served for it.
// Layout in the state directory, per source (STEM = sanitised name + "." + 12 hex digits of the
// sha256 of the location, see sourceStem):
//   STEM.<sha256>.body   the accepted bytes, named by their digest
//   STEM.meta.json       which body is current, and where/when it came from
//   STEM.status.json     last success, last failure, counts
// Copies written before sources were keyed by location (NAME.meta.json) are still read when their
// recorded origin is the source's location.
// Crash safety: every file is written to a temp file in the same directory, fsynced and renamed.
// The body is written before the meta that names it, so the meta rename is the single commit
// point: a crash at any moment leaves either the old meta with its old body or the new pair.
// Anything that does not check out (unparseable meta, a body whose digest or size differs) is
// reported and treated as absent — a damaged copy is never served.
// Synchronous on purpose: saves are rare (one per accepted update) and callers stay simple.
// One writer per state directory is assumed; stray files are only swept once they are old, so a
// second process (`c2dns lists update` beside the server) does not lose a file mid-save.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { FeedError, isFeedFailure, type FeedFailure } from './errors.js';
import { sha256Hex, sha256HexByTurns } from './verify.js';
import { syncDir, writeFileAtomic, writeFileAtomicAsync } from '../storage/atomic.js';

/** A source: a list name and where it comes from (its configured URL or absolute path). */
export interface SourceRef {
  readonly name: string;
  readonly origin: string;
}

/** The source a configured list reads. */
export function sourceRef(l: { readonly name: string; readonly url?: string | undefined; readonly path?: string | undefined }): SourceRef {
  return { name: l.name, origin: l.url ?? l.path ?? '' };
}

export interface LastGoodMeta {
  /** When the body was fetched or read (epoch ms). */
  fetchedAt: number;
  /** sha256 of the body (hex); checked against the body on every load. */
  sha256: string;
  /** Entries the body compiled to when it was accepted: the baseline of the shrink check. */
  entries: number;
  /** The configured URL or path. */
  origin: string;
  etag?: string;
  lastModified?: string;
  /** Where a URL source's body actually came from after redirects. */
  finalUrl?: string;
}

export interface FeedStatus {
  /** Epoch ms of the last attempt that ended with a usable list (updated or unchanged). */
  lastSuccess: number | null;
  lastFailure: { at: number; reason: FeedFailure; message: string } | null;
  entries: number;
  rejectedLines: number;
}

/** Told about a state file that exists but cannot be used; the store then acts as if it were absent. */
export type StoreProblemReporter = (source: string, problem: string) => void;

const META_FORMAT = 'c2dns-last-good/1';
/** A stray temp or unreferenced body younger than this may belong to another process's save in progress. */
const STRAY_GRACE_MS = 10 * 60_000;

const metaFileSchema = z.object({
  format: z.literal(META_FORMAT),
  source: z.string(),
  bytes: z.number().int().nonnegative(),
  fetchedAt: z.number().finite().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  entries: z.number().int().nonnegative(),
  origin: z.string(),
  etag: z.string().optional(),
  lastModified: z.string().optional(),
  finalUrl: z.string().optional(),
});

const statusFileSchema = z.object({
  lastSuccess: z.number().finite().nullable(),
  lastFailure: z
    .object({
      at: z.number().finite(),
      reason: z.custom<FeedFailure>((v) => typeof v === 'string' && isFeedFailure(v), 'unknown failure reason'),
      message: z.string(),
    })
    .nullable(),
  entries: z.number().int().nonnegative(),
  rejectedLines: z.number().int().nonnegative(),
});

/** A source's current meta record as read, and where its body and meta are. */
interface MetaRecord {
  m: z.infer<typeof metaFileSchema>;
  meta: LastGoodMeta;
  bodyPath: string;
  metaPath: string;
}

const warn: StoreProblemReporter = (source, problem) => process.emitWarning(`state of list "${source}": ${problem}`, { code: 'C2DNS_STATE' });

export class LastGoodStore {
  constructor(
    readonly dir: string,
    private readonly report: StoreProblemReporter = warn,
  ) {}

  /** Stores `body` as the last good copy of `source`; FeedError 'io' if it could not be made durable. */
  save(source: SourceRef, body: Buffer, meta: LastGoodMeta): void {
    const w = this.prepare(source, body, meta);
    try {
      writeFileAtomic(w.bodyPath, body, true);
      writeFileAtomic(w.metaPath, w.metaText, true);
      syncDir(this.dir);
    } catch (err) {
      throw this.ioError(source, err);
    }
    this.sweep(w.name, w.sha);
  }

  /** save() with the hash and the writes done a piece per event-loop turn, so a big copy does not hold up answering queries. */
  async saveAsync(source: SourceRef, body: Buffer, meta: LastGoodMeta): Promise<void> {
    const w = this.prepare(source, body, meta, await sha256HexByTurns(body));
    try {
      await writeFileAtomicAsync(w.bodyPath, body);
      await writeFileAtomicAsync(w.metaPath, w.metaText);
      syncDir(this.dir);
    } catch (err) {
      throw this.ioError(source, err);
    }
    this.sweep(w.name, w.sha);
  }

  /** What a save writes: the body under its sha256, then the meta that names it (the switch-over). */
  private prepare(source: SourceRef, body: Buffer, meta: LastGoodMeta, sha = sha256Hex(body)): { name: string; sha: string; bodyPath: string; metaPath: string; metaText: string } {
    const name = sourceStem(source);
    if (meta.sha256.toLowerCase() !== sha) throw new Error(`last good copy of "${source.name}": meta.sha256 ${meta.sha256} is not the body's sha256 ${sha}`);
    const record = { format: META_FORMAT, source: source.name, bytes: body.length, ...meta, origin: source.origin, sha256: sha };
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw this.ioError(source, err);
    }
    return { name, sha, bodyPath: join(this.dir, bodyFile(name, sha)), metaPath: this.metaPath(name), metaText: `${JSON.stringify(record, null, 2)}\n` };
  }

  private ioError(source: SourceRef, err: unknown): FeedError {
    return new FeedError('io', `cannot save the last good copy of "${source.name}" in ${this.dir}: ${(err as Error).message}`, { cause: err });
  }

  /** The last good copy, verified against its meta; null when there is none or it is damaged (reported). */
  load(source: SourceRef): { body: Buffer; meta: LastGoodMeta } | null {
    const rec = this.readMeta(source);
    if (rec === null) return null;
    let body: Buffer;
    try {
      body = readFileSync(rec.bodyPath);
    } catch (err) {
      return this.unreadable(source, rec, err);
    }
    return this.verified(source, rec, body, sha256Hex(body));
  }

  /** load() with the body read and hashed a piece per event-loop turn: for a process that answers meanwhile. */
  async loadAsync(source: SourceRef): Promise<{ body: Buffer; meta: LastGoodMeta } | null> {
    const rec = this.readMeta(source);
    if (rec === null) return null;
    let body: Buffer;
    try {
      body = await readFile(rec.bodyPath);
    } catch (err) {
      return this.unreadable(source, rec, err);
    }
    return this.verified(source, rec, body, await sha256HexByTurns(body));
  }

  private unreadable(source: SourceRef, { bodyPath, metaPath }: MetaRecord, err: unknown): null {
    return this.bad(source.name, `cannot read ${bodyPath}, the body ${metaPath} names (${(err as Error).message}); ignoring the disk copy`);
  }

  /** The copy when `body` (whose sha256 is `got`) is the one its meta names; null (reported) when not. */
  private verified(source: SourceRef, rec: MetaRecord, body: Buffer, got: string): { body: Buffer; meta: LastGoodMeta } | null {
    const { m, bodyPath } = rec;
    if (body.length !== m.bytes || got !== m.sha256) {
      return this.bad(source.name, `${bodyPath} is ${body.length} bytes with sha256 ${got}; its meta says ${m.bytes} bytes with sha256 ${m.sha256}: damaged, ignoring the disk copy`);
    }
    return { body, meta: rec.meta };
  }

  /**
   * The meta of the last good copy, without reading its body (a big list's body takes tens of
   * milliseconds to read and hash): enough to tell whether the copy is the one already served.
   * Null when there is none or its meta is unusable (reported); a damaged body is found by load().
   */
  loadMeta(source: SourceRef): LastGoodMeta | null {
    return this.readMeta(source)?.meta ?? null;
  }

  /** The current meta record of `source` and where its body is; null when absent or unusable (reported). */
  private readMeta(source: SourceRef): MetaRecord | null {
    const name = sourceStem(source);
    const metaPath = this.metaPath(name);
    let json = this.readJson(source.name, metaPath);
    let stem = name;
    if (json === undefined) {
      // A copy saved before copies were keyed by location: used only if it is of this location.
      stem = storeName(source.name);
      const legacy = this.readJson(source.name, this.metaPath(stem), true);
      const rec = metaFileSchema.safeParse(legacy);
      if (!rec.success || rec.data.source !== source.name || rec.data.origin !== source.origin) return null;
      json = legacy;
    }
    const parsed = metaFileSchema.safeParse(json);
    if (!parsed.success) return this.bad(source.name, `${metaPath} is not a valid record (${issue(parsed.error)}); ignoring the disk copy`);
    const m = parsed.data;
    if (m.source !== source.name) return this.bad(source.name, `${metaPath} belongs to list "${m.source}"; ignoring it`);
    if (m.origin !== source.origin) return this.bad(source.name, `${metaPath} is a copy of ${m.origin}, not of ${source.origin}; ignoring it`);
    const meta: LastGoodMeta = { fetchedAt: m.fetchedAt, sha256: m.sha256, entries: m.entries, origin: m.origin };
    if (m.etag !== undefined) meta.etag = m.etag;
    if (m.lastModified !== undefined) meta.lastModified = m.lastModified;
    if (m.finalUrl !== undefined) meta.finalUrl = m.finalUrl;
    return { m, meta, bodyPath: join(this.dir, bodyFile(stem, m.sha256)), metaPath };
  }

  /** Replaces the status of `source`. Never throws: a status that cannot be written is reported. */
  recordStatus(source: SourceRef, status: FeedStatus): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(this.statusPath(sourceStem(source)), `${JSON.stringify(status, null, 2)}\n`, false);
    } catch (err) {
      this.report(source.name, `cannot write its status in ${this.dir}: ${(err as Error).message}`);
    }
  }

  loadStatus(source: SourceRef): FeedStatus | null {
    const path = this.statusPath(sourceStem(source));
    const json = this.readJson(source.name, path);
    if (json === undefined) return null;
    const parsed = statusFileSchema.safeParse(json);
    if (!parsed.success) return this.bad(source.name, `${path} is not a valid status (${issue(parsed.error)}); ignoring it`);
    return parsed.data;
  }

  private metaPath(name: string): string {
    return join(this.dir, `${name}.meta.json`);
  }

  private statusPath(name: string): string {
    return join(this.dir, `${name}.status.json`);
  }

  /** Parsed JSON, or undefined when the file is absent (silently) or unreadable/unparseable (reported unless `quiet`). */
  private readJson(source: string, path: string, quiet = false): unknown {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !quiet) this.report(source, `cannot read ${path}: ${(err as Error).message}`);
      return undefined;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      if (!quiet) this.report(source, `${path} is not JSON (${(err as Error).message}); ignoring it`);
      return undefined;
    }
  }

  private bad(source: string, problem: string): null {
    this.report(source, problem);
    return null;
  }

  /** Best effort: old bodies of this source and temp files left by a crash, once past the grace period. */
  private sweep(name: string, keepSha: string): void {
    const esc = escapeRegExp(name);
    const body = new RegExp(`^${esc}\\.([0-9a-f]{64})\\.body$`);
    const temp = new RegExp(`^${esc}\\.(meta\\.json|status\\.json|[0-9a-f]{64}\\.body)\\.tmp-\\d+-[0-9a-f]+$`);
    const now = Date.now();
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const f of files) {
      const b = body.exec(f);
      if ((b === null || b[1] === keepSha) && !temp.test(f)) continue;
      const path = join(this.dir, f);
      try {
        if (now - statSync(path).mtimeMs > STRAY_GRACE_MS) rmSync(path, { force: true });
      } catch {
        // Gone already, or not ours to remove: sweeping is only housekeeping.
      }
    }
  }
}

/**
 * The location whose last good copy was saved last under list `name` (keyed or from before copies
 * were keyed by location), by the fetch time its meta records; null when there is none. Tells
 * whose a state file keyed by name alone is (firstseen.ts).
 */
export function lastSavedOrigin(dir: string, name: string): string | null {
  const stem = escapeRegExp(storeName(name));
  const meta = new RegExp(`^${stem}(\\.[0-9a-f]{12})?\\.meta\\.json$`);
  let best: { at: number; origin: string } | null = null;
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return null;
  }
  for (const f of files) {
    if (!meta.test(f)) continue;
    let rec;
    try {
      rec = metaFileSchema.safeParse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
    } catch {
      continue; // unreadable: LastGoodStore.load reports it
    }
    if (rec.success && rec.data.source === name && (best === null || rec.data.fetchedAt > best.at)) best = { at: rec.data.fetchedAt, origin: rec.data.origin };
  }
  return best?.origin ?? null;
}

/**
 * A file-name-safe form of a source name. Names config allows ([A-Za-z0-9._-], not starting
 * with '.' or '-') are used as they are; anything else is replaced and suffixed with a hash of
 * the original so two different names never share files.
 */
export function storeName(source: string): string {
  const cleaned = source.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]/, '_').slice(0, 64);
  // Windows device names are unusable as file names whatever the extension.
  const reserved = /^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i.test(cleaned);
  if (cleaned === source && cleaned !== '' && !reserved) return cleaned;
  return `${cleaned === '' ? 'source' : cleaned}~${sha256Hex(source).slice(0, 12)}`;
}

/** The file-name stem of a source's files: its safe name and 12 hex digits of its location's sha256. */
export function sourceStem(source: SourceRef): string {
  return `${storeName(source.name)}.${sha256Hex(source.origin).slice(0, 12)}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function bodyFile(name: string, sha: string): string {
  return `${name}.${sha}.body`;
}

function issue(err: z.ZodError): string {
  const i = err.issues[0];
  return i === undefined ? 'invalid' : `${i.path.join('.') || 'record'}: ${i.message}`;
}
