// Owns every configured source: acquires, verifies, compiles and accepts (or rejects) updates,
// keeps the last good copy on disk, and publishes a new trie with one atomic swap. A source that
// fails keeps serving its last good rules; a restart while a feed is down loads the disk copy.
import { statSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import cron from 'node-cron';
import { Guard, DEFAULT_PROTECTED } from '../blocklist/guard.js';
import type { NameTable } from '../blocklist/names.js';
import type { RefusedNote } from '../policy/explain.js';
import { buildGroupTables, PolicyHolder, type GroupLists, type PolicySource } from '../policy/snapshot.js';
import { listAction, listConfig, type Config, type ListConfig } from '../config/schema.js';
import type { OpLogger } from '../observe/oplog.js';
import { acquire } from './acquire.js';
import { compileSource, type CompiledSource } from './compile.js';
import { defaultCompiler, inThreadCompiler, type Compiler, type TableFile } from './compile-worker.js';
import type { DecodeOptions } from './decode.js';
import { FeedError, type FeedFailure } from './errors.js';
import { readTableImage } from './firstseen-read.js';
import { firstSeenFile, loadFirstSeen, saveFirstSeen, saveTableImage, type SavedTable } from './firstseen.js';
import { LastGoodStore, sourceRef, sourceStem, type LastGoodMeta, type SourceRef } from './store.js';
import { checkShrink, sha256HexByTurns } from './verify.js';

export interface SourceState {
  config: ListConfig;
  compiled: CompiledSource | null;
  sha256: string | null;
  /** The rules come from the disk copy because the latest attempt failed (or none was made yet). */
  fromLastGood: boolean;
  lastSuccess: number | null;
  lastFailure: { at: number; reason: FeedFailure; message: string } | null;
  /**
   * The rules served are newer than the last good copy on disk, which could not be saved (a full
   * disk, a read-only state directory): since when, why, and the disk copy's sha256 then (null:
   * none). A restart would start from that older copy. Null when the disk copy is current.
   */
  diskStale?: { at: number; message: string; diskSha256: string | null } | null;
}

/**
 * A block list that loaded with nothing to enforce: legitimate for a local file kept for later
 * (an allowlist often starts empty), but for a block list it usually means the wrong file.
 */
export function isEmptyBlockList(s: SourceState): boolean {
  return s.config.kind === 'block' && s.compiled !== null && s.compiled.rules.length === 0 && s.compiled.ips.length === 0;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A configured local list could not be loaded at start and has no good copy on disk. */
export class SourceLoadError extends Error {}

const EMERGENCY_SOURCE = listConfig({ name: 'emergency', path: '(admin API)', format: 'plain', tags: ['emergency', 'c2'] });

/** What a config reload did to the lists (names). `failed`: URL lists with no copy yet (retried on schedule). */
export interface ListChanges {
  added: string[];
  removed: string[];
  changed: string[];
  failed: string[];
}

export type RefreshOutcome = 'updated' | 'unchanged' | 'failed';

/** An emergency block as the admin API keeps it (EmergencyStore): a name, and when it expires (null: never). */
export interface EmergencyEntry {
  name: string;
  expiresAt: number | null;
}

export class FeedManager {
  readonly sources: SourceState[];
  readonly store: LastGoodStore;
  readonly guard: Guard;
  private tasks: { stop(): void }[] = [];
  private scheduled = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** The disk saves of accepted updates, one at a time, in a chain of their own (flushSaves). */
  private saving: Promise<void> = Promise.resolve();
  /** Per source (sourceStem: name and location), every name it ever listed with when it was first seen; also its rules' name store. */
  private readonly firstSeen = new Map<string, NameTable>();
  /** What this process's last save of each first-seen table left on disk: the next save appends to it. */
  private readonly savedTables = new Map<string, SavedTable>();

  /** A source changed rules outside a successful update (a newer disk copy adopted before a failed attempt). */
  private unpublished = false;

  private emergency: CompiledSource | null = null;
  private emergencyTimer: NodeJS.Timeout | undefined = undefined;

  /**
   * Whether this process writes the state directory (last good copies, first-seen, status). In a
   * cluster only the worker that refreshes does; the others read what it wrote.
   */
  persist = true;

  /** Which lists each group (config `groups`) uses: one table per distinct set is built at each publish. */
  private groups: readonly GroupLists[];

  /** Decodes and compiles a source's bytes: in a worker thread, so answering goes on meanwhile. */
  compiler: Compiler = defaultCompiler();

  /** The first load is done: later compiles run in the background of answering (CompileJob.background). */
  private serving = false;

  /** Called after an accepted update was published and stored (cluster: tell the other workers). */
  onUpdated: () => void = () => {};

  /**
   * Disk copies and first-seen tables of accepted updates, written after the publish that serves
   * them: blocking starts without waiting for the disk, and writing a big list's copy (hash, body,
   * a million first-seen lines) never delays the swap.
   */
  private pendingSaves: (() => Promise<void>)[] = [];

  constructor(
    cfg: Config,
    private readonly log: OpLogger,
    /** Where each accepted change is published; stages, commands and APIs read it from there. */
    readonly policy: PolicyHolder = new PolicyHolder(),
    private readonly now: () => number = Date.now,
  ) {
    this.store = new LastGoodStore(cfg.state.dir!, (source, problem) => log.error({ list: source, problem, dir: cfg.state.dir }, 'state of a list in state.dir cannot be used or written'));
    this.guard = new Guard([...(cfg.guard.builtinProtected ? DEFAULT_PROTECTED : []), ...cfg.guard.protect]);
    this.sources = cfg.lists.map((config) => ({ config, compiled: null, sha256: null, fromLastGood: false, lastSuccess: null, lastFailure: null }));
    this.groups = (cfg.groups ?? []).map((g) => ({ name: g.name, lists: g.lists ?? null }));
  }

  /**
   * Start-up: every source from its disk copy first (so blocking starts at once), then a fresh
   * attempt for local files (cheap) and for URL sources that have no disk copy yet.
   */
  async loadInitial(options: { network: boolean; saveInBackground?: boolean; emergency?: readonly EmergencyEntry[] } = { network: true }): Promise<void> {
    // Emergency blocks go into the same first publish: a setEmergency() after this would queue
    // behind the background saves (a 1M-name first-seen table) and build every table again.
    if (options.emergency !== undefined) this.applyEmergency(options.emergency);
    for (const s of this.sources) {
      await this.useLastGood(s);
      if (s.config.path !== undefined || (options.network && s.compiled === null)) await this.attempt(s);
    }
    await this.publish();
    this.serving = true;
    // The server answers as soon as the lists are published; the disk copies follow (idle()).
    // Not in the queue: an emergency block or a refresh right after start does not wait for them.
    if (options.saveInBackground === true) void this.flushSaves();
    else await this.flushSaves();
  }

  /** Resolves when every refresh, reload and save queued so far is done. */
  idle(): Promise<void> {
    return this.queue.then(() => this.saving);
  }

  /** Runs `run` after everything queued before it; one at a time. */
  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /**
   * Writes the saves pending since the last publish, after the saves already under way (each
   * reports its own failure: never rejects).
   */
  private flushSaves(): Promise<void> {
    const run = async (): Promise<void> => {
      const saves = this.pendingSaves.splice(0);
      for (const save of saves) await save();
    };
    // After the saves before, even one that failed unexpectedly: the chain never stays broken.
    const p = this.saving.then(run, run);
    this.saving = p.catch(() => {});
    return p;
  }

  /** Refreshes the named sources (all when none named); the trie is rebuilt once at the end. */
  refresh(names?: readonly string[]): Promise<Map<string, RefreshOutcome>> {
    const run = async (): Promise<Map<string, RefreshOutcome>> => {
      let published = false;
      try {
        const out = new Map<string, RefreshOutcome>();
        for (const s of this.sources) if (names === undefined || names.length === 0 || names.includes(s.config.name)) out.set(s.config.name, await this.attempt(s));
        if ([...out.values()].includes('updated') || this.unpublished) {
          this.unpublished = false;
          await this.publish();
          published = true;
        }
        return out;
      } finally {
        await this.flushSaves();
        // Only now: the other workers of a cluster load what was stored (reloadFromStore).
        if (published) this.onUpdated();
      }
    };
    return this.enqueue(run); // one refresh at a time
  }

  /** Reloads every source whose last good copy on disk changed (another process stored it). */
  reloadFromStore(): Promise<void> {
    const run = async (): Promise<void> => {
      let changed = false;
      for (const s of this.sources) {
        if (this.store.loadMeta(sourceRef(s.config))?.sha256 === s.sha256) continue;
        await this.useLastGood(s, await this.loadCopy(sourceRef(s.config)));
        changed = true;
      }
      if (changed) await this.publish();
    };
    return this.enqueue(run);
  }

  /** Scheduled refreshes (node-cron), each with random jitter and retries with backoff. */
  schedule(): void {
    this.scheduled = true;
    for (const s of this.sources) {
      const expr = s.config.refresh ?? (s.config.url !== undefined ? '0 * * * *' : '*/5 * * * *');
      const task = cron.schedule(expr, () => {
        const jitter = Math.random() * s.config.jitterSeconds * 1000;
        const t = setTimeout(() => void this.refreshWithRetry(s.config.name, 0), jitter);
        t.unref();
      });
      this.tasks.push(task);
    }
    // URL sources started from a disk copy get a first refresh soon, not at the next cron tick.
    for (const s of this.sources) {
      if (s.config.url !== undefined && s.fromLastGood) setTimeout(() => void this.refreshWithRetry(s.config.name, 0), Math.random() * s.config.jitterSeconds * 1000).unref();
    }
  }

  /**
   * Config reload: the lists and groups of `cfg`. A list whose settings did not change keeps its
   * rules; a new or changed one is loaded (disk copy of its source, then its file or URL) before
   * anything changes, so a list that cannot be loaded leaves the running lists as they were
   * (SourceLoadError naming it). Then the new set is published at once and the refresh schedule
   * follows it.
   */
  reconfigure(cfg: Config, options: { network: boolean }): Promise<ListChanges> {
    const run = async (): Promise<ListChanges> => {
      try {
        return await this.applyLists(cfg, options);
      } finally {
        await this.flushSaves();
      }
    };
    return this.enqueue(run);
  }

  /** reconfigure() inside the queue. */
  private async applyLists(cfg: Config, options: { network: boolean }): Promise<ListChanges> {
    const byName = new Map(this.sources.map((s) => [s.config.name, s]));
    const next: SourceState[] = [];
    const changes: ListChanges = { added: [], removed: [], changed: [], failed: [] };
    for (const config of cfg.lists) {
      const old = byName.get(config.name);
      byName.delete(config.name);
      if (old !== undefined && isDeepStrictEqual(old.config, config)) {
        next.push(old);
        continue;
      }
      (old === undefined ? changes.added : changes.changed).push(config.name);
      const s: SourceState = { config, compiled: null, sha256: null, fromLastGood: false, lastSuccess: null, lastFailure: null };
      // A local file is read at once (one compile: a list added by reload blocks within a
      // second); its disk copy only if the file cannot be. A URL list starts from its disk copy.
      if (config.path !== undefined) {
        await this.withCompiler(smallFile(config.path) ? inThreadCompiler : this.compiler, () => this.attempt(s));
        if (s.compiled === null) await this.useLastGood(s);
      } else {
        await this.useLastGood(s);
        if (options.network && s.compiled === null) await this.attempt(s);
      }
      if (s.compiled === null && config.path !== undefined) throw new SourceLoadError(`list "${config.name}": cannot load ${config.path}: ${s.lastFailure?.message ?? 'unknown error'}`);
      if (s.compiled === null) changes.failed.push(config.name);
      next.push(s);
    }
    changes.removed.push(...byName.keys());
    const groups = (cfg.groups ?? []).map((g) => ({ name: g.name, lists: g.lists ?? null }));
    const groupsChanged = !isDeepStrictEqual(groups, this.groups);
    if (changes.added.length + changes.removed.length + changes.changed.length === 0 && !groupsChanged) return changes;
    this.sources.splice(0, this.sources.length, ...next); // in place: metrics and the console hold this array
    this.groups = groups;
    await this.publish();
    if (this.scheduled) {
      for (const t of this.tasks) t.stop();
      this.tasks = [];
      this.schedule();
    }
    return changes;
  }

  /**
   * Runs `f` (inside the queue) with `compiler`. A compile worker takes a few hundred
   * milliseconds to start, more on a busy machine: a small list added by reload compiles in this
   * thread (milliseconds) so it blocks within a second.
   */
  private async withCompiler<T>(compiler: Compiler, f: () => Promise<T>): Promise<T> {
    const saved = this.compiler;
    this.compiler = compiler;
    try {
      return await f();
    } finally {
      this.compiler = saved;
    }
  }

  stop(): void {
    clearTimeout(this.emergencyTimer);
    for (const t of this.tasks) t.stop();
    this.tasks = [];
  }

  private async refreshWithRetry(name: string, attempt: number): Promise<void> {
    const outcome = (await this.refresh([name])).get(name);
    const s = this.sources.find((x) => x.config.name === name)!;
    if (outcome === 'failed' && attempt < s.config.retries) {
      const delay = 30_000 * 2 ** attempt * (0.5 + Math.random());
      setTimeout(() => void this.refreshWithRetry(name, attempt + 1), delay).unref();
    }
  }

  /**
   * A local file the operator edits may legitimately be empty (an allowlist waiting for its
   * first entry); a URL feed that arrives empty is a failure. The shrink check still applies.
   */
  private decodeOptions(c: ListConfig): DecodeOptions {
    const json = c.format === 'stix' || c.format === 'misp';
    return { maxBytes: c.maxBytes, allowEmpty: c.path !== undefined, lineFormat: !json };
  }

  private seen(ref: SourceRef): NameTable {
    const key = sourceStem(ref);
    let m = this.firstSeen.get(key);
    if (m === undefined) {
      m = loadFirstSeen(this.store.dir, ref, { migrate: this.persist });
      this.firstSeen.set(key, m);
    }
    return m;
  }

  /**
   * The table for a compile: the one in memory, or (a restart, not read yet) its file, which the
   * compile reads where it runs; the table read becomes the source's when the result is accepted.
   */
  private tableFor(ref: SourceRef): NameTable | TableFile {
    const stem = sourceStem(ref);
    if (this.firstSeen.has(stem)) return this.seen(ref);
    const file = firstSeenFile(this.store.dir, ref, { migrate: this.persist });
    if (file === null) return this.seen(ref);
    // The image the last clean stop left (only the process that writes the state consumes it).
    const image = this.persist ? readTableImage(file) : null;
    if (image === null) return { file };
    this.firstSeen.set(stem, image);
    // The file holds exactly this table: the next save appends to it.
    this.savedTables.set(stem, { names: image.size, bytes: statSync(file).size });
    return image;
  }

  /**
   * At a clean stop, after the saves: each first-seen table its file holds exactly is also written
   * as an image, which the next start reads instead of parsing the file. Never throws.
   */
  saveTableImages(): void {
    if (!this.persist) return;
    for (const s of this.sources) {
      const ref = sourceRef(s.config);
      const stem = sourceStem(ref);
      const table = this.firstSeen.get(stem);
      if (table === undefined) continue;
      try {
        saveTableImage(this.store.dir, ref, table, this.savedTables.get(stem) ?? null);
      } catch (err) {
        this.log.warn({ list: s.config.name, err: (err as Error).message }, 'the first-seen table image could not be written (the next start reads the table file)');
      }
    }
  }

  /** An accepted compile's table, which has the source's new names, is its first-seen table from now on. */
  private keepTable(ref: SourceRef, c: CompiledSource): void {
    this.firstSeen.set(sourceStem(ref), c.rules.dict);
  }

  /** The verified disk copy; read and hashed by turns once queries are answered. */
  private async loadCopy(ref: SourceRef): Promise<{ body: Buffer; meta: LastGoodMeta } | null> {
    return this.serving ? this.store.loadAsync(ref) : this.store.load(ref);
  }

  private async useLastGood(s: SourceState, lg?: { body: Buffer; meta: LastGoodMeta } | null): Promise<void> {
    if (lg === undefined) lg = await this.loadCopy(sourceRef(s.config));
    if (lg === null) return;
    try {
      const ref = sourceRef(s.config);
      s.compiled = await this.compiler({ body: lg.body, decode: this.decodeOptions(s.config), config: s.config, guard: this.guard, table: this.tableFor(ref), now: this.now(), background: this.serving });
      this.keepTable(ref, s.compiled);
      s.sha256 = lg.meta.sha256;
      s.fromLastGood = true;
      s.lastSuccess = lg.meta.fetchedAt;
    } catch (err) {
      this.log.error({ list: s.config.name, err }, 'the last good copy on disk cannot be used');
    }
  }

  /** One attempt at one source; on any failure the current rules stay. */
  private async attempt(s: SourceState): Promise<RefreshOutcome> {
    const name = s.config.name;
    const ref = sourceRef(s.config);
    // The meta alone (no body read and hashed on every attempt): the body only when it is adopted.
    const meta = this.store.loadMeta(ref);
    let lastGood: { meta: LastGoodMeta } | null = meta === null ? null : { meta };
    // Another process (`c2dns lists update`) stored a copy this one does not serve yet: serve it
    // first. Its validators are what the conditional request below sends, so a 304 must mean
    // "the stored copy is current", never "keep serving an older one".
    let adopted = false;
    // Not the copy this process failed to replace (a full disk): that one is older than what it serves.
    if (meta !== null && meta.sha256 !== s.sha256 && meta.sha256 !== s.diskStale?.diskSha256) {
      const copy = await this.loadCopy(ref); // verified; null (reported) when the body is damaged
      lastGood = copy;
      if (copy !== null) {
        const before = s.sha256;
        await this.useLastGood(s, copy);
        adopted = s.sha256 !== before;
        if (adopted) this.log.info({ list: name, entries: s.compiled?.rules.length ?? 0, fetchedAt: new Date(copy.meta.fetchedAt).toISOString() }, 'list loaded from a newer disk copy');
      }
    }
    try {
      const got = await acquire(s.config, s.compiled !== null && s.sha256 === lastGood?.meta.sha256 ? lastGood.meta : null);
      if (got.notModified) {
        this.succeeded(s, 'not modified');
        return adopted ? 'updated' : 'unchanged';
      }
      // Each synchronous step of a big update gets its own turn of the event loop, so queries
      // are answered between them rather than after all of them.
      const sha = await sha256HexByTurns(got.body);
      if (sha === s.sha256 && s.compiled !== null) {
        // The disk copy could not be saved last time: try again with the same bytes.
        if (s.diskStale != null && this.persist) await this.saveCopy(s, got.body, { fetchedAt: this.now(), sha256: sha, entries: s.compiled.rules.length, origin: ref.origin, ...validators(got) }, lastGood);
        this.succeeded(s, 'unchanged');
        s.fromLastGood = false;
        return adopted ? 'updated' : 'unchanged';
      }
      await turn();
      // Compiled into a copy of the first-seen table, which becomes the source's table (with the
      // new names) only when the update is accepted: a rejected one leaves the table as it was.
      const decode = { ...this.decodeOptions(s.config), ...(got.contentType !== undefined ? { contentType: got.contentType } : {}) };
      const compiled = await this.compiler({ body: got.body, decode, config: s.config, guard: this.guard, table: this.tableFor(ref), now: this.now(), background: this.serving });
      const count = compiled.rules.length;
      if (count === 0 && compiled.report.rejected > 0) {
        throw new FeedError('parse', `no usable entries: ${compiled.report.rejected} lines rejected (first: line ${compiled.report.examples[0]?.line}: ${compiled.report.examples[0]?.reason})`);
      }
      checkShrink(count, s.compiled?.rules.length ?? lastGood?.meta.entries ?? 0, s.config.maxShrinkRatio);
      this.keepTable(ref, compiled);
      // Verified and accepted: it is published whether or not the disk copy can be saved, and
      // saved after the publish (pendingSaves).
      if (this.persist) {
        const copyMeta: LastGoodMeta = { fetchedAt: this.now(), sha256: sha, entries: count, origin: ref.origin, ...validators(got) };
        this.pendingSaves.push(() => this.saveCopy(s, got.body, copyMeta, lastGood));
      }
      s.compiled = compiled;
      s.sha256 = sha;
      s.fromLastGood = false;
      this.succeeded(s, 'updated');
      this.log.info({ list: name, entries: count, rejected: compiled.report.rejected, guarded: compiled.guarded.length, notEnforceable: compiled.notEnforceable.length, ips: compiled.ips.length }, 'list updated');
      return 'updated';
    } catch (err) {
      const fe = err instanceof FeedError ? err : new FeedError('network', (err as Error).message);
      s.lastFailure = { at: this.now(), reason: fe.reason, message: fe.message };
      this.persistStatus(s);
      if (adopted) this.unpublished = true;
      this.log.error(
        { list: name, reason: fe.reason, err: fe.message, keeping: s.compiled === null ? 'nothing: no good copy yet' : `${s.compiled.rules.length} rules from ${s.fromLastGood ? 'the disk copy' : 'the previous update'}` },
        'list update rejected',
      );
      return 'failed';
    }
  }

  /**
   * Saves the last good copy and the first-seen table. A failure does not reject the update (issue
   * 10 item 12: a full disk must not freeze blocking): the list is served, the source is marked
   * diskStale and the error logged; the next refresh tries again.
   */
  private async saveCopy(s: SourceState, body: Buffer, meta: LastGoodMeta, lastGood: { meta: LastGoodMeta } | null): Promise<void> {
    const name = s.config.name;
    try {
      await turn();
      const ref = sourceRef(s.config);
      await this.store.saveAsync(ref, body, meta);
      await turn();
      // Forgotten until this save is done: one that fails part way leaves a file to write whole.
      const stem = sourceStem(ref);
      const saved = this.savedTables.get(stem) ?? null;
      this.savedTables.delete(stem);
      this.savedTables.set(stem, await saveFirstSeen(this.store.dir, ref, this.seen(ref), saved));
      if (s.diskStale != null) this.log.warn({ list: name, since: new Date(s.diskStale.at).toISOString() }, 'the disk copy of the list is current again');
      s.diskStale = null;
    } catch (err) {
      const message = (err as Error).message;
      if (s.diskStale == null) s.diskStale = { at: this.now(), message, diskSha256: lastGood?.meta.sha256 ?? null };
      else s.diskStale.message = message;
      this.log.error(
        { list: name, err: message, entries: meta.entries, diskCopy: lastGood === null ? 'none' : `${lastGood.meta.entries} entries of ${new Date(lastGood.meta.fetchedAt).toISOString()}` },
        'list updated and published, but its last good copy could not be saved: the disk copy is stale (a restart would start from it)',
      );
    }
  }

  private succeeded(s: SourceState, _how: string): void {
    s.lastSuccess = this.now();
    this.persistStatus(s);
  }

  private persistStatus(s: SourceState): void {
    if (!this.persist) return;
    const c = s.compiled;
    this.store.recordStatus(sourceRef(s.config), {
      lastSuccess: s.lastSuccess,
      lastFailure: s.lastFailure,
      entries: c?.rules.length ?? 0,
      rejectedLines: c?.report.rejected ?? 0,
    });
  }

  /**
   * Emergency blocks (admin API) as an extra source ahead of every list: compiled like a plain
   * list tagged `emergency` and `c2`, published at once, republished when the next one expires.
   */
  setEmergency(blocks: readonly EmergencyEntry[]): Promise<void> {
    const run = async (): Promise<void> => {
      this.applyEmergency(blocks);
      await this.publish();
    };
    return this.enqueue(run);
  }

  /** Compiles the live emergency blocks (not published yet) and arms the next expiry. */
  private applyEmergency(blocks: readonly EmergencyEntry[]): void {
    clearTimeout(this.emergencyTimer);
    const now = this.now();
    const live = blocks.filter((b) => b.expiresAt === null || b.expiresAt > now);
    this.emergency = live.length === 0 ? null : compileSource(live.map((b) => b.name).join('\n') + '\n', EMERGENCY_SOURCE, this.guard, new Map(), now);
    const next = Math.min(...live.map((b) => b.expiresAt ?? Infinity));
    if (Number.isFinite(next)) this.emergencyTimer = setTimeout(() => void this.setEmergency(live), Math.min(next - now + 10, 2 ** 31 - 1)).unref();
  }

  /** Guard refusals and not-enforceable entries for the name or one of its parents, per list. */
  refusedNotes(name: string): RefusedNote[] {
    const out: RefusedNote[] = [];
    for (const s of this.sources) {
      for (const g of [...(s.compiled?.guarded ?? []), ...(s.compiled?.notEnforceable ?? [])]) {
        if (name === g.name || name.endsWith(`.${g.name}`)) out.push({ list: s.config.name, entry: g.name, line: g.line, reason: g.reason, ...(g.fromUrl !== undefined ? { fromUrl: g.fromUrl } : {}) });
      }
    }
    const own = this.guard.check(name);
    if (own !== null) out.push({ list: '(guard)', entry: name, line: 0, reason: own.reason });
    return out;
  }

  /** The emergency blocks as compiled (null when there are none). */
  get emergencyRules(): CompiledSource | null {
    return this.emergency;
  }

  /** Builds the tables beside the live ones, in chunks, then publishes them as one snapshot. */
  private async publish(): Promise<void> {
    const parts: PolicySource[] = [];
    if (this.emergency !== null) parts.push({ ...policySource(EMERGENCY_SOURCE, this.emergency, this.now()), everyGroup: true });
    for (const s of this.sources) if (s.compiled !== null) parts.push(policySource(s.config, s.compiled, s.lastSuccess ?? this.now()));
    this.policy.publish(await buildGroupTables(parts, this.groups, turn));
  }

}

/** Compiled in the serving thread on reload: a stall of a few milliseconds at most. */
const SMALL_LIST_BYTES = 256 * 1024;

function smallFile(path: string): boolean {
  try {
    return statSync(path).size <= SMALL_LIST_BYTES;
  } catch {
    return false; // the attempt says why
  }
}

/** The HTTP validators of a fetched body, for its last good copy's meta. */
function validators(got: { etag?: string; lastModified?: string }): Pick<LastGoodMeta, 'etag' | 'lastModified'> {
  return { ...(got.etag !== undefined ? { etag: got.etag } : {}), ...(got.lastModified !== undefined ? { lastModified: got.lastModified } : {}) };
}

function policySource(cfg: ListConfig, c: CompiledSource, firstSeen: number): PolicySource {
  return { list: cfg.name, kind: cfg.kind, watch: cfg.action === 'monitor', action: listAction(cfg), tags: cfg.tags, rules: c.rules, ips: c.ips, firstSeen };
}
