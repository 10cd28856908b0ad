// First-seen times: kept per source in a NameTable (also its rules' name store), written as
// "name<TAB>epoch-ms" lines, and untouched by an update that is rejected.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { PolicyHolder } from '../../src/policy/snapshot.js';
import { NameTable } from '../../src/blocklist/names.js';
import { loadConfig } from '../../src/config/load.js';
import { loadFirstSeen, saveFirstSeen } from '../../src/feeds/firstseen.js';
import { FeedManager } from '../../src/feeds/manager.js';

describe('first-seen store', () => {
  it('writes and reads back every name with its time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    const t = new NameTable();
    for (let i = 0; i < 3000; i++) t.set(`n${i}.example.com`, 1_700_000_000_000 + (i % 7) * 1000);
    await saveFirstSeen(dir, 'my list', t);
    const back = loadFirstSeen(dir, 'my list');
    expect(back.size).toBe(3000);
    expect([...back.entries()]).toEqual([...t.entries()]);
  });

  it('reads the file an earlier version wrote (CRLF, a bad line, a name twice: the last time wins)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-fs-'));
    writeFileSync(join(dir, 'x.first-seen.tsv'), 'a.com\t100\r\nb.org\t200\nnot a line\nc.net\tNaN\na.com\t150\n');
    const t = loadFirstSeen(dir, 'x');
    expect([...t.entries()]).toEqual([
      ['a.com', 150],
      ['b.org', 200],
    ]);
    expect(loadFirstSeen(dir, 'missing').size).toBe(0);
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
    const tsv = readFileSync(join(dir, 'state', 'l.first-seen.tsv'), 'utf8');
    expect(tsv).toContain('new.example\t3000\n');
    expect(tsv).toContain('c2-3.example\t1000\n');
  });
});
