// First-seen times: kept per source (list name and location) in a NameTable (also its rules' name
// store), written as "name<TAB>epoch-ms" lines, and untouched by an update that is rejected. A
// list re-pointed to another location starts its own clock; tables written under the list name
// alone by earlier versions are migrated to the source they were written for.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { PolicyHolder } from '../../src/policy/snapshot.js';
import { NameTable } from '../../src/blocklist/names.js';
import { loadConfig } from '../../src/config/load.js';
import { readTableImage } from '../../src/feeds/firstseen-read.js';
import { loadFirstSeen, saveFirstSeen, saveTableImage } from '../../src/feeds/firstseen.js';
import { FeedManager } from '../../src/feeds/manager.js';
import { sourceStem, type SourceRef } from '../../src/feeds/store.js';

describe('first-seen store', () => {
  it('writes and reads back every name with its time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const t = new NameTable();
    for (let i = 0; i < 3000; i++) t.set(`n${i}.example.com`, 1_700_000_000_000 + (i % 7) * 1000);
    const source = { name: 'my list', origin: 'https://feeds.example/c2.txt' };
    await saveFirstSeen(dir, source, t);
    const back = loadFirstSeen(dir, source);
    expect(back.size).toBe(3000);
    expect([...back.entries()]).toEqual([...t.entries()]);
  });

  it('reads the file an earlier version wrote (CRLF, a bad line, a name twice: the last time wins)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const x = { name: 'x', origin: '/lists/x.txt' };
    writeFileSync(join(dir, `${sourceStem(x)}.first-seen.tsv`), 'a.com\t100\r\nb.org\t200\nnot a line\nc.net\tNaN\na.com\t150\n');
    const t = loadFirstSeen(dir, x);
    expect([...t.entries()]).toEqual([
      ['a.com', 150],
      ['b.org', 200],
    ]);
    expect(loadFirstSeen(dir, { name: 'missing', origin: '/lists/missing.txt' }).size).toBe(0);
  });
});

describe('saving again appends the names added since', () => {
  const source = { name: 'grows', origin: '/lists/grows.txt' };
  const tableOf = (n: number): NameTable => {
    const t = new NameTable();
    for (let i = 0; i < n; i++) t.set(`g${i}.example.net`, 1_700_000_000_000 + (i % 5) * 1000);
    return t;
  };
  /** The file a whole write of `t` makes. */
  const whole = async (t: NameTable): Promise<Buffer> => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    await saveFirstSeen(dir, source, t);
    return readFileSync(join(dir, `${sourceStem(source)}.first-seen.tsv`));
  };

  it('in place (the same file, not a new one renamed over it), with the bytes a whole write has', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const f = join(dir, `${sourceStem(source)}.first-seen.tsv`);
    const t = tableOf(20_000);
    const first = await saveFirstSeen(dir, source, t);
    expect(first).toEqual({ names: 20_000, bytes: statSync(f).size });
    const inode = statSync(f).ino;
    for (let i = 0; i < 300; i++) t.set(`new${i}.example.org`, 1_800_000_000_000);
    const second = await saveFirstSeen(dir, source, t, first);
    expect(statSync(f).ino).toBe(inode);
    expect(second).toEqual({ names: 20_300, bytes: statSync(f).size });
    expect(readFileSync(f).equals(await whole(t))).toBe(true);
    expect([...loadFirstSeen(dir, source).entries()]).toEqual([...t.entries()]);
  });

  it('a file changed since that save (edited, or an append cut short) is written whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const f = join(dir, `${sourceStem(source)}.first-seen.tsv`);
    const t = tableOf(1000);
    const first = await saveFirstSeen(dir, source, t);
    writeFileSync(f, 'g1.example.net\t5\n', { flag: 'a' });
    t.set('later.example.org', 1_800_000_000_000);
    await saveFirstSeen(dir, source, t, first);
    expect(readFileSync(f).equals(await whole(t))).toBe(true);
  });

  it('a last line without its newline (an append cut short by a full disk or a crash) is not read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    writeFileSync(join(dir, `${sourceStem(source)}.first-seen.tsv`), 'a.com\t100\nb.org\t17');
    expect([...loadFirstSeen(dir, source).entries()]).toEqual([['a.com', 100]]);
  });
});

describe('a clean stop leaves an image of each table, which the next start reads instead of the file', () => {
  const source = { name: 'img', origin: '/lists/img.txt' };
  const image = (dir: string): string => join(dir, `${sourceStem(source)}.first-seen.bin`);
  /** A table with two time columns' worth of times (few distinct ones, and one of its own per name). */
  const tableOf = (n: number, distinct: number): NameTable => {
    const t = new NameTable();
    for (let i = 0; i < n; i++) t.set(`i${i}.example.net`, 1_700_000_000_000 + (i % distinct) * 1000);
    return t;
  };

  it.each([
    ['few distinct times', 7],
    ['a time per name', 1_000_000],
  ])('%s: the same names, ids and times, indexed; read once', async (_case, distinct) => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const t = tableOf(5000, distinct);
    expect(saveTableImage(dir, source, t, await saveFirstSeen(dir, source, t))).toBe(true);
    const tsv = join(dir, `${sourceStem(source)}.first-seen.tsv`);
    expect(statSync(image(dir)).mode & 0o777).toBe(0o600);
    const back = readTableImage(tsv)!;
    expect([...back.entries()]).toEqual([...t.entries()]);
    expect(back.find('i4321.example.net', 0, 17)).toBe(4321);
    expect(existsSync(image(dir))).toBe(false); // an image serves one start
    expect(readTableImage(tsv)).toBeNull();
    back.set('grown.example.org', 5); // and grows like any table
    expect(back.get('grown.example.org')).toBe(5);
  });

  it('is not written unless the file holds exactly the table, and not read once the file changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const tsv = join(dir, `${sourceStem(source)}.first-seen.tsv`);
    const t = tableOf(1000, 3);
    const saved = await saveFirstSeen(dir, source, t);
    t.set('unsaved.example.org', 9);
    expect(saveTableImage(dir, source, t, saved)).toBe(false); // a name the file does not have yet
    expect(saveTableImage(dir, source, t, null)).toBe(false);
    const again = await saveFirstSeen(dir, source, t, saved);
    expect(saveTableImage(dir, source, t, again)).toBe(true);
    writeFileSync(tsv, 'other.example\t1\n', { flag: 'a' }); // `c2dns lists update` appended meanwhile
    expect(readTableImage(tsv)).toBeNull();
    expect(existsSync(image(dir))).toBe(false);
    writeFileSync(tsv, 'x');
    expect(readTableImage(tsv)).toBeNull(); // none left to mislead
  });

  it('through the feed manager: stop, start from the image (times kept, no file parsed), and the next save appends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const list = join(dir, 'list.txt');
    writeFileSync(list, Array.from({ length: 50 }, (_, i) => `c2-${i}.example`).join('\n') + '\n');
    const first = await feedsAt(dir, 'list.txt', 1_000);
    first.saveTableImages();
    const state = join(dir, 'state');
    const stem = sourceStem({ name: 'l', origin: list });
    const tsv = join(state, `${stem}.first-seen.tsv`);
    expect(existsSync(join(state, `${stem}.first-seen.bin`))).toBe(true);
    // The file is made unreadable as a table: only the image can give the start its times.
    const text = readFileSync(tsv);
    writeFileSync(tsv, Buffer.alloc(text.length, 0x20));
    const second = await feedsAt(dir, 'list.txt', 2_000);
    expect(firstSeenOf(second, 'c2-7.example')).toBe(1_000);
    expect(existsSync(join(state, `${stem}.first-seen.bin`))).toBe(false);
    writeFileSync(tsv, text); // what the file held
    writeFileSync(list, 'fresh.example\n', { flag: 'a' });
    expect((await second.refresh(['l'])).get('l')).toBe('updated');
    expect(readFileSync(tsv, 'utf8')).toBe(`${text.toString('utf8')}fresh.example\t2000\n`); // appended, not rewritten
  });
});

describe('a rejected update leaves first-seen times as they were', () => {
  it('a name first listed by a rejected update is first seen when an accepted one lists it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const list = join(dir, 'list.txt');
    const names = Array.from({ length: 20 }, (_, i) => `c2-${i}.example`);
    writeFileSync(list, names.join('\n') + '\n');
    writeFileSync(join(dir, 'c2dns.yaml'), YAML.stringify({ state: { dir: join(dir, 'state') }, lists: [{ name: 'l', path: 'list.txt', format: 'plain' }] }));
    const cfg = loadConfig({ file: join(dir, 'c2dns.yaml') });
    let clock = 1_000;
    const feeds = new FeedManager(cfg, pino({ level: 'silent' }), new PolicyHolder(), () => clock);
    await feeds.loadInitial({ network: false });
    expect(feeds.policy.current.tables.names.match('c2-3.example')!.firstSeen).toBe(1_000);

    // Shrinks by 75% (maxShrinkRatio 0.5): rejected, although it brings a new name.
    clock = 2_000;
    writeFileSync(list, [...names.slice(0, 5), 'new.example'].join('\n') + '\n');
    expect((await feeds.refresh(['l'])).get('l')).toBe('failed');
    expect(feeds.policy.current.tables.names.match('new.example')).toBeNull();

    clock = 3_000;
    writeFileSync(list, [...names, 'new.example'].join('\n') + '\n');
    expect((await feeds.refresh(['l'])).get('l')).toBe('updated');
    expect(feeds.policy.current.tables.names.match('new.example')!.firstSeen).toBe(3_000);
    expect(feeds.policy.current.tables.names.match('x.c2-3.example')!.firstSeen).toBe(1_000);
    const tsv = readFileSync(join(dir, 'state', `${sourceStem({ name: 'l', origin: list })}.first-seen.tsv`), 'utf8');
    expect(tsv).toContain('new.example\t3000\n');
    expect(tsv).toContain('c2-3.example\t1000\n');
  });
});

/** A state directory with list "l" configured at `path` (relative to the config), and its FeedManager. */
async function feedsAt(dir: string, path: string, clock: number, persist = true): Promise<FeedManager> {
  writeFileSync(join(dir, 'c2dns.yaml'), YAML.stringify({ state: { dir: join(dir, 'state') }, lists: [{ name: 'l', path, format: 'plain' }] }));
  const feeds = new FeedManager(loadConfig({ file: join(dir, 'c2dns.yaml') }), pino({ level: 'silent' }), new PolicyHolder(), () => clock);
  feeds.persist = persist;
  await feeds.loadInitial({ network: false });
  return feeds;
}

const firstSeenOf = (feeds: FeedManager, name: string): number | undefined => feeds.policy.current.tables.names.match(name)?.firstSeen;

describe('first-seen tables are kept per source (name and location)', () => {
  it('a list re-pointed to another file starts its own clock; pointed back, the first file\'s times return', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    writeFileSync(join(dir, 'a.txt'), 'shared.example\nonly-a.example\n');
    writeFileSync(join(dir, 'b.txt'), 'shared.example\nonly-b.example\n');
    expect(firstSeenOf(await feedsAt(dir, 'a.txt', 1_000), 'shared.example')).toBe(1_000);

    // Keyed by name alone, b.txt inherited a.txt's 1,000 for shared.example (maxAgeDays counted from then).
    const b = await feedsAt(dir, 'b.txt', 5_000);
    expect(firstSeenOf(b, 'shared.example')).toBe(5_000);
    expect(firstSeenOf(b, 'only-b.example')).toBe(5_000);

    const back = await feedsAt(dir, 'a.txt', 9_000);
    expect(firstSeenOf(back, 'shared.example')).toBe(1_000);
    expect(firstSeenOf(back, 'only-a.example')).toBe(1_000);
  });
});

/**
 * Turns the state directory's files of `source` into what versions keyed by list name wrote:
 * NAME.meta.json (recording the location) and NAME.first-seen.tsv.
 */
function asNameKeyed(state: string, source: SourceRef): void {
  const stem = sourceStem(source);
  for (const f of readdirSync(state)) if (f.startsWith(`${stem}.`) && !f.endsWith('.status.json')) renameSync(join(state, f), join(state, source.name + f.slice(stem.length)));
}

describe('tables written under the list name alone (earlier versions) are migrated', () => {
  it('to the source whose copy was saved last: its times kept, the file renamed to the keyed name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const state = join(dir, 'state');
    writeFileSync(join(dir, 'a.txt'), 'old.example\n');
    await feedsAt(dir, 'a.txt', 1_000);
    const a = { name: 'l', origin: join(dir, 'a.txt') };
    asNameKeyed(state, a);
    expect(existsSync(join(state, 'l.first-seen.tsv'))).toBe(true);

    // A read-only command reads the old table where it is and leaves the directory as it was.
    const before = readdirSync(state).sort();
    expect(firstSeenOf(await feedsAt(dir, 'a.txt', 7_000, false), 'old.example')).toBe(1_000);
    expect(readdirSync(state).sort()).toEqual(before);

    writeFileSync(join(dir, 'a.txt'), 'old.example\nnew.example\n');
    const feeds = await feedsAt(dir, 'a.txt', 8_000);
    expect(firstSeenOf(feeds, 'old.example')).toBe(1_000);
    expect(firstSeenOf(feeds, 'new.example')).toBe(8_000);
    expect(existsSync(join(state, 'l.first-seen.tsv'))).toBe(false);
    const tsv = readFileSync(join(state, `${sourceStem(a)}.first-seen.tsv`), 'utf8');
    expect(tsv).toContain('old.example\t1000\n');
    expect(tsv).toContain('new.example\t8000\n');
  });

  it('a list re-pointed in the same upgrade does not inherit the table: it goes to the location it was written for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const state = join(dir, 'state');
    writeFileSync(join(dir, 'a.txt'), 'shared.example\n');
    writeFileSync(join(dir, 'b.txt'), 'shared.example\n');
    await feedsAt(dir, 'a.txt', 1_000);
    asNameKeyed(state, { name: 'l', origin: join(dir, 'a.txt') });

    expect(firstSeenOf(await feedsAt(dir, 'b.txt', 5_000), 'shared.example')).toBe(5_000);
    expect(existsSync(join(state, 'l.first-seen.tsv'))).toBe(false);
    expect(readFileSync(join(state, `${sourceStem({ name: 'l', origin: join(dir, 'a.txt') })}.first-seen.tsv`), 'utf8')).toBe('shared.example\t1000\n');
    expect(firstSeenOf(await feedsAt(dir, 'a.txt', 9_000), 'shared.example')).toBe(1_000);
  });

  it('a name-keyed table with no copy saying whose it is stays where it is, unused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    mkdirSync(join(dir, 'state'));
    writeFileSync(join(dir, 'state', 'l.first-seen.tsv'), 'x.example\t1000\n');
    writeFileSync(join(dir, 'a.txt'), 'x.example\n');
    expect(firstSeenOf(await feedsAt(dir, 'a.txt', 5_000), 'x.example')).toBe(5_000);
    expect(readFileSync(join(dir, 'state', 'l.first-seen.tsv'), 'utf8')).toBe('x.example\t1000\n');
  });
});
