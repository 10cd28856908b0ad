// An accepted update is served first and stored second (issue 11: writing a big list's disk copy
// and first-seen table before the swap delayed blocking and held the event loop): at the moment a
// policy is published the disk still holds the previous copy, and by the time refresh() (or, at
// start, idle()) resolves it holds the new one, first-seen times included.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { FeedManager } from '../../src/feeds/manager.js';
import { sourceRef, sourceStem } from '../../src/feeds/store.js';
import { sha256Hex } from '../../src/feeds/verify.js';
import { PolicyHolder } from '../../src/policy/snapshot.js';

const V1 = Array.from({ length: 50 }, (_, i) => `c2-${i}.example`).join('\n') + '\n';
const V2 = `${V1}new.example\n`;

function setup(): { feeds: FeedManager; list: string; state: string; onDisk: () => string | null } {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-pts-'));
  const list = join(dir, 'list.txt');
  writeFileSync(list, V1);
  writeFileSync(join(dir, 'c2dns.yaml'), YAML.stringify({ state: { dir: join(dir, 'state') }, lists: [{ name: 'l', path: 'list.txt', format: 'plain' }] }));
  const feeds = new FeedManager(loadConfig({ file: join(dir, 'c2dns.yaml') }), pino({ level: 'silent' }), new PolicyHolder(), () => 5_000);
  const onDisk = (): string | null => feeds.store.loadMeta(sourceRef(feeds.sources[0]!.config))?.sha256 ?? null;
  return { feeds, list, state: join(dir, 'state'), onDisk };
}

describe('an accepted update is published, then stored', () => {
  it('at start (saveInBackground): the lists are published with nothing on disk yet; idle() waits for the copy', async () => {
    const { feeds, onDisk } = setup();
    const atPublish: (string | null)[] = [];
    feeds.policy.subscribe(() => atPublish.push(onDisk()));
    await feeds.loadInitial({ network: false, saveInBackground: true });
    expect(feeds.policy.current.tables.names.match('c2-7.example')?.list).toBe('l');
    await feeds.idle();
    expect(atPublish).toEqual([null]);
    expect(onDisk()).toBe(sha256Hex(V1));
  });

  it('at start with emergency blocks: one publish carries the lists and the blocks, before anything is stored', async () => {
    const { feeds, onDisk } = setup();
    const atPublish: (string | null)[] = [];
    feeds.policy.subscribe(() => atPublish.push(onDisk()));
    await feeds.loadInitial({ network: false, saveInBackground: true, emergency: [{ name: 'urgent.example', expiresAt: null }, { name: 'gone.example', expiresAt: 4_000 }] });
    const names = feeds.policy.current.tables.names;
    expect(names.match('c2-7.example')?.list).toBe('l');
    expect(names.match('www.urgent.example')?.list).toBe('emergency');
    expect(names.match('gone.example')).toBeNull(); // expired before now (5,000)
    expect(atPublish).toEqual([null]);
    await feeds.idle();
    expect(onDisk()).toBe(sha256Hex(V1));
    feeds.stop();
  });

  it('on refresh: the publish sees the previous disk copy; refresh() resolves with the new copy and first-seen table stored', async () => {
    const { feeds, list, state, onDisk } = setup();
    await feeds.loadInitial({ network: false });
    expect(onDisk()).toBe(sha256Hex(V1)); // without saveInBackground, stored before loadInitial resolves
    const atPublish: (string | null)[] = [];
    feeds.policy.subscribe(() => atPublish.push(onDisk()));
    writeFileSync(list, V2);
    expect((await feeds.refresh()).get('l')).toBe('updated');
    expect(atPublish).toEqual([sha256Hex(V1)]);
    expect(onDisk()).toBe(sha256Hex(V2));
    expect(readFileSync(join(state, `${sourceStem(sourceRef(feeds.sources[0]!.config))}.first-seen.tsv`), 'utf8')).toContain('new.example\t5000\n');
  });

  it('an unchanged file is neither compiled nor stored again', async () => {
    const { feeds, onDisk } = setup();
    await feeds.loadInitial({ network: false });
    const before = feeds.sources[0]!.compiled;
    let published = 0;
    feeds.policy.subscribe(() => published++);
    expect((await feeds.refresh()).get('l')).toBe('unchanged');
    expect(feeds.sources[0]!.compiled).toBe(before);
    expect(published).toBe(0);
    expect(onDisk()).toBe(sha256Hex(V1));
  });
});
