// The retro-hunt hook: names a list gains are searched for in the history before their block
// time; one event per (client, name); a restart does not report them again.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PolicyHolder } from '../../src/policy/snapshot.js';
import { loadConfig } from '../../src/config/load.js';
import { FeedManager } from '../../src/feeds/manager.js';
import { HistoryRecorder } from '../../src/history/recorder.js';
import { RetroHunter, type RetroHuntEvent } from '../../src/history/retro.js';
import { hunt, IndicatorMatcher } from '../../src/history/hunt.js';
import { IndicatorSet } from '../../src/history/indicators.js';
import { Slices } from '../../src/history/slices.js';
import { NameTable } from '../../src/blocklist/names.js';
import { ParseReport } from '../../src/blocklist/parsers/report.js';
import { M_SUBTREE, RuleSet } from '../../src/blocklist/ruleset.js';
import { listConfig } from '../../src/config/schema.js';
import type { SourceState } from '../../src/feeds/manager.js';

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

/** A block list as the FeedManager holds it once loaded: every name first seen at `firstSeen`. */
function blockList(name: string, names: readonly string[], firstSeen: number): SourceState {
  const dict = new NameTable(names.length, names.length * 24);
  const rules = new RuleSet(dict, { list: name, action: null, tags: [], maxAgeMs: 0 }, names.length);
  names.forEach((n, i) => rules.push(dict.intern(n, 0, n.length, firstSeen), i + 1, M_SUBTREE, null));
  rules.seal();
  return {
    config: listConfig({ name, path: `${name}.txt` }),
    compiled: { name, format: 'plain', rules, ips: [], report: new ParseReport(), guarded: [], notEnforceable: [] },
    sha256: null,
    fromLastGood: false,
    lastSuccess: null,
    lastFailure: null,
  };
}

/**
 * A setImmediate chain beside the code under test: the event loop's turns it got, and the most of
 * `count()` that went by between two of them (the work done in one turn).
 */
function turnProbe(count: () => number): { stop(): { turns: number; mostInOneTurn: number } } {
  let at = count();
  let most = 0;
  let turns = 0;
  let on = true;
  const tick = (): void => {
    const c = count();
    most = Math.max(most, c - at);
    at = c;
    turns++;
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop() {
      on = false;
      tick();
      return { turns, mostInOneTurn: most };
    },
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('RetroHunter in the running server', () => {
  // Counted, not timed: a busy machine stretches any slice (and its garbage collections) to tens
  // of ms. Slices whose clock is always due give a turn at every look at the clock; what is done
  // between two turns is then one step of each loop, whatever the machine.
  it('a publish of 200,000 new names, 20,000 asked for before: a turn every 512 names matched and every event raised, and exactly the hits of one unsliced hunt', async () => {
    const histDir = join(mkdtempSync(join(tmpdir(), 'c2dns-retro-')), 'history');
    const names = Array.from({ length: 200_000 }, (_, i) => `n${i}.c2.example`);
    let now = Date.now() - 60 * MIN;
    const rec = new HistoryRecorder({ dir: histDir });
    // One name frame of 20,000 names and one of 20,000 records: a hit each.
    for (let i = 0; i < 20_000; i++) rec.record(now + i, `10.1.${(i >> 8) & 255}.${i & 255}`, `www.${names[i * 10]!}`, 1, 'allowed', 0, new Uint8Array([192, 0, 2, i & 255]));
    await rec.close();

    now += 60 * MIN;
    const events: RetroHuntEvent[] = [];
    let slices = 0;
    const hunter = new RetroHunter(histDir, (e) => events.push(e), { now: () => now, slices: () => (slices++, new Slices(undefined, 0)) });
    const list = blockList('c2', names, now + 1); // listed after the hunter started: every name is new

    const matched = vi.spyOn(IndicatorMatcher.prototype, 'matchBytes');
    const names0 = turnProbe(() => matched.mock.calls.length);
    const raised = turnProbe(() => events.length);
    expect(await hunter.onRulesPublished([list])).toBe(20_000);
    const n = names0.stop();
    const r = raised.stop();
    expect(matched).toHaveBeenCalledTimes(20_000);
    expect(n.mostInOneTurn).toBeLessThanOrEqual(512);
    expect(r.mostInOneTurn).toBe(1);
    expect(r.turns).toBeGreaterThan(20_000);
    expect(slices).toBe(1); // one set of slices for the preparation, the hunt and the events

    const want = await hunt(histDir, { names, since: 0, until: now + 1 });
    expect(events.map(({ type: _t, blockedAt: _b, resolved: _r, ...hit }) => hit)).toEqual(want);
    expect(events.every((e) => e.blockedAt === now + 1 && e.resolved)).toBe(true);
  });

  it('a publish of a 100,000-name list with 1 % new names hunts those 1,000 names: the lookup is built over them only', async () => {
    const histDir = join(mkdtempSync(join(tmpdir(), 'c2dns-retro-')), 'history');
    const old = Array.from({ length: 99_000 }, (_, i) => `old${i}.example`);
    const fresh = Array.from({ length: 1_000 }, (_, i) => `fresh${i}.example`);
    let now = Date.now() - 60 * MIN;
    const rec = new HistoryRecorder({ dir: histDir });
    for (let i = 0; i < 2_000; i++) rec.record(now + i, '10.0.0.1', (i % 2 === 0 ? old : fresh)[i >> 1]!, 1, 'allowed', 0, null);
    await rec.close();

    now += 60 * MIN;
    const events: RetroHuntEvent[] = [];
    const hunter = new RetroHunter(histDir, (e) => events.push(e), { now: () => now });
    const list = blockList('c2', old, now - 1); // known before the hunter started
    expect(await hunter.onRulesPublished([list])).toBe(0);
    now += MIN;
    // The update: the same table gains the new names, first seen now; a new rule set over both.
    const dict = list.compiled!.rules.dict;
    const rules = new RuleSet(dict, { list: 'c2', action: null, tags: [], maxAgeMs: 0 }, 100_000);
    [...old, ...fresh].forEach((x, i) => rules.push(dict.intern(x, 0, x.length, now), i + 1, M_SUBTREE, null));
    rules.seal();
    const built: number[] = [];
    const build = IndicatorSet.prototype.build;
    vi.spyOn(IndicatorSet.prototype, 'build').mockImplementation(function (this: IndicatorSet, ...a) {
      built.push(this.names.size);
      return build.apply(this, a);
    });
    expect(await hunter.onRulesPublished([{ ...list, compiled: { ...list.compiled!, rules } }])).toBe(1_000);
    expect(built).toEqual([1_000]);
    expect(events.map((e) => e.name)).toEqual(fresh);
  });
});
