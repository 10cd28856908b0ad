// The last good copy on disk: saved atomically (a crash at any point leaves a usable copy),
// verified on load (a damaged copy is reported and never used), per-source status for
// `c2dns lists`, and file names that a source name cannot escape from.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LastGoodStore, sourceStem, storeName, type FeedStatus, type LastGoodMeta, type SourceRef } from '../../src/feeds/store.js';
import { sha256Hex } from '../../src/feeds/verify.js';
import { throwsFeed } from './vectors.js';

const V1 = Buffer.from('a.example\nb.example\n');
const V2 = Buffer.from('a.example\nb.example\nc.example\n');
const ORIGIN = 'https://feeds.example/list.txt';
const meta = (body: Buffer, extra: Partial<LastGoodMeta> = {}): LastGoodMeta => ({
  fetchedAt: 1_700_000_000_000,
  sha256: sha256Hex(body),
  entries: body.toString().trim().split('\n').length,
  origin: ORIGIN,
  ...extra,
});
/** A source of this test: NAME at ORIGIN. */
const src = (name: string, origin = ORIGIN): SourceRef => ({ name, origin });
/** Its files' stem: NAME.<12 hex of the origin's sha256>. */
const stem = (name: string, origin = ORIGIN): string => sourceStem(src(name, origin));

let dir: string;
let problems: string[];
let store: LastGoodStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'c2dns-store-'));
  problems = [];
  store = new LastGoodStore(dir, (source, problem) => problems.push(`${source}: ${problem}`));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const age = (path: string, ms: number): void => {
  const t = new Date(Date.now() - ms);
  utimesSync(path, t, t);
};

describe('save and load', () => {
  it('round-trips the body and its meta', () => {
    store.save(src('urlhaus'), V1, meta(V1, { etag: '"e1"', lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT', finalUrl: 'https://cdn.example/list.txt' }));
    const got = store.load(src('urlhaus'));
    expect(got?.body.equals(V1)).toBe(true);
    expect(got?.meta).toEqual(meta(V1, { etag: '"e1"', lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT', finalUrl: 'https://cdn.example/list.txt' }));
    expect(readdirSync(dir).sort()).toEqual([`${stem('urlhaus')}.${sha256Hex(V1)}.body`, `${stem('urlhaus')}.meta.json`]);
    expect(problems).toEqual([]);
  });

  it('a source never saved is simply absent, not a problem', () => {
    expect(store.load(src('nothing'))).toBeNull();
    expect(store.loadStatus(src('nothing'))).toBeNull();
    expect(problems).toEqual([]);
  });

  it('the newest save wins; the state directory is created, private', () => {
    const nested = new LastGoodStore(join(dir, 'state', 'c2dns'));
    nested.save(src('l'), V1, meta(V1));
    nested.save(src('l'), V2, meta(V2));
    expect(nested.load(src('l'))?.body.equals(V2)).toBe(true);
    if (process.platform !== 'win32') {
      expect(statSync(join(dir, 'state', 'c2dns')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'state', 'c2dns', `${stem('l')}.meta.json`)).mode & 0o777).toBe(0o600);
    }
  });

  it('refuses a meta whose sha256 is not the body’s (a caller bug, never stored)', () => {
    expect(() => store.save(src('l'), V1, meta(V2))).toThrow(/not the body's sha256/);
    expect(store.load(src('l'))).toBeNull();
  });

  it('a state directory that cannot be written → FeedError io', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    throwsFeed(() => new LastGoodStore(file).save(src('l'), V1, meta(V1)), 'io', /cannot save the last good copy of "l"/);
  });
});

describe('copies are kept per source: name and location', () => {
  it('a list re-pointed to another location never gets the old location’s copy', () => {
    store.save(src('l', '/srv/lists/old.txt'), V1, meta(V1, { origin: '/srv/lists/old.txt' }));
    expect(store.load(src('l', '/srv/lists/new.txt'))).toBeNull();
    expect(store.load(src('l', '/srv/lists/old.txt'))?.body.equals(V1)).toBe(true);
    store.recordStatus(src('l', '/srv/lists/old.txt'), { lastSuccess: 1, lastFailure: null, entries: 2, rejectedLines: 0 });
    expect(store.loadStatus(src('l', '/srv/lists/new.txt'))).toBeNull();
    expect(problems).toEqual([]);
  });

  it('the same location under two names, and two locations under one name, keep separate copies', () => {
    store.save(src('a', 'https://x.example/1'), V1, meta(V1));
    store.save(src('a', 'https://x.example/2'), V2, meta(V2));
    store.save(src('b', 'https://x.example/1'), V2, meta(V2));
    expect(store.load(src('a', 'https://x.example/1'))?.body.equals(V1)).toBe(true);
    expect(store.load(src('a', 'https://x.example/2'))?.body.equals(V2)).toBe(true);
    expect(store.load(src('b', 'https://x.example/1'))?.body.equals(V2)).toBe(true);
  });

  it('a copy saved before copies were keyed by location is used for that location only', () => {
    // The layout before: NAME.meta.json naming NAME.<sha256>.body.
    const sha = sha256Hex(V1);
    writeFileSync(join(dir, `l.${sha}.body`), V1);
    const legacy = { format: 'c2dns-last-good/1', source: 'l', bytes: V1.length, ...meta(V1) };
    writeFileSync(join(dir, 'l.meta.json'), JSON.stringify(legacy));
    expect(store.load(src('l'))?.body.equals(V1)).toBe(true);
    expect(store.load(src('l', '/elsewhere.txt'))).toBeNull();
    expect(problems).toEqual([]);
  });
});

describe('crash safety', () => {
  it('a crash between temp write and rename leaves the previous copy intact', () => {
    store.save(src('l'), V1, meta(V1));
    // What a save of V2 killed before its renames leaves behind: temp files, one half-written.
    writeFileSync(join(dir, `${stem('l')}.${sha256Hex(V2)}.body.tmp-4242-0a1b2c3d`), V2.subarray(0, 7));
    writeFileSync(join(dir, `${stem('l')}.meta.json.tmp-4242-0a1b2c3e`), '{"format":"c2dns-last-good/1","sour');
    const got = store.load(src('l'));
    expect(got?.body.equals(V1)).toBe(true);
    expect(got?.meta.sha256).toBe(sha256Hex(V1));
    expect(problems).toEqual([]);
  });

  it('a crash after the body rename but before the meta rename leaves the previous copy intact', () => {
    store.save(src('l'), V1, meta(V1));
    writeFileSync(join(dir, `${stem('l')}.${sha256Hex(V2)}.body`), V2);
    expect(store.load(src('l'))?.body.equals(V1)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('the next save sweeps old strays and the replaced body, but not fresh ones (another save in progress)', () => {
    store.save(src('l'), V1, meta(V1));
    const oldBody = join(dir, `${stem('l')}.${sha256Hex(V1)}.body`);
    const staleTemp = join(dir, `${stem('l')}.meta.json.tmp-4242-deadbeef`);
    const freshTemp = join(dir, `${stem('l')}.meta.json.tmp-4343-cafebabe`);
    const otherSource = join(dir, `${stem('l2')}.meta.json.tmp-4242-deadbeef`);
    for (const f of [staleTemp, freshTemp, otherSource]) writeFileSync(f, 'x');
    for (const f of [oldBody, staleTemp, otherSource]) age(f, 60 * 60_000);
    store.save(src('l'), V2, meta(V2));
    expect(existsSync(oldBody)).toBe(false);
    expect(existsSync(staleTemp)).toBe(false);
    expect(existsSync(freshTemp)).toBe(true);
    expect(existsSync(otherSource)).toBe(true);
    expect(store.load(src('l'))?.body.equals(V2)).toBe(true);
  });
});

describe('a damaged store is reported and never used', () => {
  beforeEach(() => store.save(src('l'), V1, meta(V1)));
  const metaPath = (): string => join(dir, `${stem('l')}.meta.json`);
  const bodyPath = (): string => join(dir, `${stem('l')}.${sha256Hex(V1)}.body`);

  it('meta that is not JSON', () => {
    writeFileSync(metaPath(), '{"format": "c2dns-last-go');
    expect(store.load(src('l'))).toBeNull();
    expect(problems).toEqual([expect.stringMatching(/^l: .*l\.[0-9a-f]{12}\.meta\.json is not JSON/)]);
  });

  it('meta with missing or wrong fields', () => {
    const m = JSON.parse(readFileSync(metaPath(), 'utf8')) as Record<string, unknown>;
    writeFileSync(metaPath(), JSON.stringify({ ...m, entries: 'many' }));
    expect(store.load(src('l'))).toBeNull();
    expect(problems[0]).toMatch(/not a valid record \(entries: /);
  });

  it('a body whose sha256 does not match its meta (bit rot, tampering)', () => {
    const damaged = Buffer.from(V1);
    damaged[0] = 0x41;
    writeFileSync(bodyPath(), damaged);
    expect(store.load(src('l'))).toBeNull();
    expect(problems[0]).toMatch(/damaged, ignoring the disk copy/);
  });

  it('a body cut short', () => {
    writeFileSync(bodyPath(), V1.subarray(0, 5));
    expect(store.load(src('l'))).toBeNull();
    expect(problems[0]).toMatch(/5 bytes/);
  });

  it('a missing body', () => {
    rmSync(bodyPath());
    expect(store.load(src('l'))).toBeNull();
    expect(problems[0]).toMatch(/cannot read .*ENOENT/);
  });

  it('a meta that belongs to another source', () => {
    const m = JSON.parse(readFileSync(metaPath(), 'utf8')) as Record<string, unknown>;
    writeFileSync(metaPath(), JSON.stringify({ ...m, source: 'other' }));
    expect(store.load(src('l'))).toBeNull();
    expect(problems[0]).toMatch(/belongs to list "other"/);
  });

  it('the next good save replaces the damaged copy', () => {
    writeFileSync(metaPath(), 'garbage');
    store.save(src('l'), V2, meta(V2));
    expect(store.load(src('l'))?.body.equals(V2)).toBe(true);
  });

  it('loadMeta reads the meta alone: the same checks on it, the body left to load()', () => {
    expect(store.loadMeta(src('l'))).toEqual(meta(V1));
    writeFileSync(bodyPath(), V1.subarray(0, 5));
    // What a refresh asks on every attempt ("is the stored copy the one served?") costs no read
    // of a body that may be tens of megabytes; serving a copy still goes through load().
    expect(store.loadMeta(src('l'))).toEqual(meta(V1));
    expect(problems).toEqual([]);
    expect(store.load(src('l'))).toBeNull();
    expect(problems[0]).toMatch(/5 bytes/);
    const m = JSON.parse(readFileSync(metaPath(), 'utf8')) as Record<string, unknown>;
    writeFileSync(metaPath(), JSON.stringify({ ...m, source: 'other' }));
    expect(store.loadMeta(src('l'))).toBeNull();
    expect(problems[1]).toMatch(/belongs to list "other"/);
    expect(store.loadMeta(src('never-saved'))).toBeNull();
    expect(problems).toHaveLength(2);
  });

  it('loadAsync (reading and hashing a piece per turn) verifies the body as load() does', async () => {
    expect((await store.loadAsync(src('l')))?.body.equals(V1)).toBe(true);
    writeFileSync(bodyPath(), Buffer.from(V1).fill(0x41, 0, 1));
    expect(await store.loadAsync(src('l'))).toBeNull();
    expect(problems[0]).toMatch(/damaged, ignoring the disk copy/);
    rmSync(bodyPath());
    expect(await store.loadAsync(src('l'))).toBeNull();
    expect(problems[1]).toMatch(/cannot read .*ENOENT/);
  });

  it('saveAsync (hashing a piece per turn) refuses a meta whose sha256 is not the body\'s, and keeps the old copy', async () => {
    await expect(store.saveAsync(src('l'), V2, meta(V1))).rejects.toThrow(/is not the body's sha256/);
    expect(store.load(src('l'))?.body.equals(V1)).toBe(true);
    await store.saveAsync(src('l'), V2, meta(V2));
    expect(store.load(src('l'))?.body.equals(V2)).toBe(true);
  });

  it('without a reporter, a damaged copy becomes a process warning', async () => {
    writeFileSync(metaPath(), 'garbage');
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    expect(new LastGoodStore(dir).load(src('l'))).toBeNull();
    expect((await warned).message).toMatch(/^state of list "l": .*not JSON/);
  });
});

describe('status', () => {
  const status: FeedStatus = {
    lastSuccess: 1_700_000_000_000,
    lastFailure: { at: 1_700_000_360_000, reason: 'html', message: 'Content-Type is text/html…' },
    entries: 1234,
    rejectedLines: 5,
  };

  it('round-trips', () => {
    store.recordStatus(src('urlhaus'), status);
    expect(store.loadStatus(src('urlhaus'))).toEqual(status);
    store.recordStatus(src('urlhaus'), { ...status, lastFailure: null });
    expect(store.loadStatus(src('urlhaus'))?.lastFailure).toBeNull();
  });

  it('a corrupt status or an unknown reason is reported and ignored', () => {
    writeFileSync(join(dir, `${stem('a')}.status.json`), '[');
    expect(store.loadStatus(src('a'))).toBeNull();
    writeFileSync(join(dir, `${stem('b')}.status.json`), JSON.stringify({ ...status, lastFailure: { ...status.lastFailure, reason: 'gremlins' } }));
    expect(store.loadStatus(src('b'))).toBeNull();
    expect(problems).toHaveLength(2);
    expect(problems[1]).toMatch(/unknown failure reason/);
  });

  it('a status that cannot be written is reported, not thrown', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const p: string[] = [];
    new LastGoodStore(file, (_s, m) => p.push(m)).recordStatus(src('l'), status);
    expect(p).toHaveLength(1);
  });
});

describe('source names → file names', () => {
  it('names config allows are used as they are', () => {
    for (const n of ['urlhaus', 'abuse.ch-threatfox_v2', '3cx']) expect(storeName(n)).toBe(n);
  });

  it('anything else is made safe and kept distinct', () => {
    const names = ['../../etc/passwd', 'a/b', 'a_b', 'a\\b', '.hidden', '-rf', 'CON', 'nul.txt', '', 'ü'];
    const safe = names.map(storeName);
    for (const s of safe) expect(s).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._~-]*$/);
    expect(new Set(safe).size).toBe(names.length);
    expect(storeName('a/b')).not.toBe(storeName('a_b'));
  });

  it('a hostile source name cannot write outside the state directory', () => {
    store.save(src('../escape'), V1, meta(V1));
    store.recordStatus(src('../escape'), { lastSuccess: 1, lastFailure: null, entries: 2, rejectedLines: 0 });
    expect(readdirSync(join(dir, '..')).some((f) => f.startsWith('escape'))).toBe(false);
    expect(store.load(src('../escape'))?.body.equals(V1)).toBe(true);
    expect(readdirSync(dir).every((f) => f.startsWith('_._escape~'))).toBe(true);
  });
});

describe('saveAsync (the refresh path)', () => {
  it('stores the same verified copy as save(), replacing the previous one, with no temp files left', async () => {
    const d = mkdtempSync(join(tmpdir(), 'c2dns-store-async-'));
    const s = new LastGoodStore(d);
    const v1 = Buffer.from('a.example\n');
    const v2 = Buffer.from('a.example\nb.example\n');
    await s.saveAsync(src('feed'), v1, { fetchedAt: 1, sha256: sha256Hex(v1), entries: 1, origin: ORIGIN });
    await s.saveAsync(src('feed'), v2, { fetchedAt: 2, sha256: sha256Hex(v2), entries: 2, origin: ORIGIN });
    const got = s.load(src('feed'))!;
    expect(got.body.equals(v2)).toBe(true);
    expect(got.meta).toMatchObject({ fetchedAt: 2, entries: 2, sha256: sha256Hex(v2) });
    expect(readdirSync(d).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await expect(s.saveAsync(src('feed'), v1, { fetchedAt: 3, sha256: sha256Hex(v2), entries: 1, origin: ORIGIN })).rejects.toThrow(/is not the body's sha256/);
    rmSync(d, { recursive: true, force: true });
  });
});
