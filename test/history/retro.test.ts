// The retro-hunt hook: names a list gains are searched for in the history before their block
// time; one event per (client, name); a restart does not report them again.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { PolicyHolder } from '../../src/policy/snapshot.js';
import { loadConfig } from '../../src/config/load.js';
import { FeedManager } from '../../src/feeds/manager.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import { RetroHunter, type RetroHuntEvent } from '../../src/history/retro.js';

const MIN = 60_000;

describe('RetroHunter', () => {
  it('hunts the names a refresh adds, once, with their block time as the bound', async () => {
    const base = mkdtempSync(join(tmpdir(), 'c2dns-retro-'));
    const histDir = join(base, 'history');
    writeFileSync(join(base, 'c2.txt'), 'old-c2.example\n');
    writeFileSync(join(base, 'c2dns.yaml'), YAML.stringify({ state: { dir: join(base, 'state') }, lists: [{ name: 'c2', path: 'c2.txt' }] }));
    const cfg = loadConfig({ file: join(base, 'c2dns.yaml') });

    let now = Date.now() - 60 * MIN;
    const rec = new HistoryRecorder({ dir: histDir });
    rec.record(now - 30 * MIN, '10.0.0.1', 'old-c2.example', 1, 'allowed', 0, new Uint8Array([192, 0, 2, 1]));
    rec.record(now - 20 * MIN, '10.0.0.2', 'www.new-c2.example', 1, 'allowed', 0, new Uint8Array([192, 0, 2, 2]));
    rec.record(now - 10 * MIN, '10.0.0.2', 'www.new-c2.example', 1, 'cached', 0, new Uint8Array([192, 0, 2, 2]));
    rec.record(now - 5 * MIN, '10.0.0.3', 'new-c2.example', 28, 'allowed', 3, null);

    // c2dns knew the list before the history existed.
    await new FeedManager(cfg, pino({ level: 'silent' }), new PolicyHolder(), () => now - 120 * MIN).loadInitial({ network: false });

    await rec.flush(); // the history is on disk when c2dns starts

    const events: RetroHuntEvent[] = [];
    const hunter = new RetroHunter(histDir, (e) => events.push(e), { beforeHunt: () => rec.flush(), now: () => now });
    const feeds = new FeedManager(cfg, pino({ level: 'silent' }), new PolicyHolder(), () => now);
    await feeds.loadInitial({ network: false });
    expect(await hunter.onRulesPublished(feeds.sources)).toBe(0); // first start with history: nothing is new

    now += MIN;
    writeFileSync(join(base, 'c2.txt'), 'old-c2.example\nnew-c2.example\n');
    expect((await feeds.refresh()).get('c2')).toBe('updated');
    rec.record(now + 1, '10.0.0.4', 'new-c2.example', 1, 'blocked', 0, new Uint8Array([0, 0, 0, 0])); // after the block: not counted
    expect(await hunter.onRulesPublished(feeds.sources)).toBe(2);
    expect(events).toEqual([
      expect.objectContaining({ type: 'retro-hunt', client: '10.0.0.2', name: 'www.new-c2.example', matchedIndicator: 'new-c2.example', count: 2, answers: ['192.0.2.2'], blockedAt: now, resolved: true }),
      expect.objectContaining({ type: 'retro-hunt', client: '10.0.0.3', name: 'new-c2.example', count: 1, answers: [], rcodes: ['NXDOMAIN'], blockedAt: now, resolved: true }),
    ]);

    // Nothing new on the next publish, nor after a restart (the watermark is on disk).
    expect(await hunter.onRulesPublished(feeds.sources)).toBe(0);
    const again = new RetroHunter(histDir, (e) => events.push(e), { now: () => now + 5 * MIN });
    expect(await again.onRulesPublished(feeds.sources)).toBe(0);
    expect(events).toHaveLength(2);

    // An emergency block hunts at once.
    expect(await again.huntNames(['old-c2.example'], now)).toBe(1);
    expect(events[2]).toMatchObject({ client: '10.0.0.1', name: 'old-c2.example', blockedAt: now });
    await rec.close();
  });

  it('on a first start with no history, takes the names published before answering as known, and hunts the ones added later', async () => {
    const base = mkdtempSync(join(tmpdir(), 'c2dns-retro-'));
    const histDir = join(base, 'history');
    const names = Array.from({ length: 2000 }, (_, i) => `c2-${i}.example`);
    writeFileSync(join(base, 'c2.txt'), names.join('\n') + '\n');
    writeFileSync(join(base, 'c2dns.yaml'), YAML.stringify({ state: { dir: join(base, 'state') }, lists: [{ name: 'c2', path: 'c2.txt' }] }));
    const cfg = loadConfig({ file: join(base, 'c2dns.yaml') });

    let now = Date.now();
    const rec = new HistoryRecorder({ dir: histDir });
    const events: RetroHuntEvent[] = [];
    const hunter = new RetroHunter(histDir, (e) => events.push(e), { beforeHunt: () => rec.flush(), now: () => now });
    const feeds = new FeedManager(cfg, pino({ level: 'silent' }), new PolicyHolder(), () => now);
    await feeds.loadInitial({ network: false });
    // Every name is first seen now, yet none can have been asked for before it was blocked: not
    // one is copied into a hunt, and the watermark (the first call) needs no state file yet.
    expect(await hunter.onRulesPublished(feeds.sources)).toBe(0);
    expect(existsSync(join(histDir, 'retrohunt.json'))).toBe(false);

    // Answering: a client asks for a name no list has yet; a refresh then adds it.
    now += MIN;
    rec.record(now, '10.0.0.9', 'late.example', 1, 'allowed', 0, new Uint8Array([192, 0, 2, 9]));
    now += MIN;
    writeFileSync(join(base, 'c2.txt'), [...names, 'late.example'].join('\n') + '\n');
    expect((await feeds.refresh()).get('c2')).toBe('updated');
    expect(await hunter.onRulesPublished(feeds.sources)).toBe(1);
    expect(events).toEqual([expect.objectContaining({ client: '10.0.0.9', name: 'late.example', blockedAt: now })]);
    expect(existsSync(join(histDir, 'retrohunt.json'))).toBe(true);
    await rec.close();
  });
});
