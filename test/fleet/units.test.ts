// The fleet's pure parts, without Redis: how local and fleet state merge, the fleet view's list
// drift, the cluster config, the coalescing runner, the CLI's formatting; and that a single
// instance never loads the Redis client.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatFleet, propagationLine } from '../../src/commands/fleet.js';
import { configSchema } from '../../src/config/schema.js';
import type { EmergencyBlock } from '../../src/feeds/emergency.js';
import { instanceName, redactRedisUrl } from '../../src/fleet/config.js';
import { mergeBlocks, mergeQuarantine, parseBlock, TOMBSTONE_TTL_MS, type Tombstone } from '../../src/fleet/merge.js';
import { Serial } from '../../src/fleet/serial.js';
import { fleetView, type HeartbeatRecord } from '../../src/fleet/view.js';
import type { QuarantineEntry } from '../../src/quarantine/store.js';
import { summarize } from '../../src/respond/format.js';
import type { SecurityEvent } from '../../src/respond/security-events.js';

const NOW = 1_800_000_000_000;
const block = (name: string, addedAt: number, extra: Partial<EmergencyBlock> = {}): EmergencyBlock => ({ name, reason: 'r', addedAt, expiresAt: null, actor: 'api', ...extra });
const tomb = (at: number): Tombstone => ({ at, actor: 'api', instance: 'x' });
const m = <T>(entries: [string, T][]): Map<string, T> => new Map(entries);

describe('merging this instance\'s emergency blocks with the fleet\'s', () => {
  it('takes the fleet\'s blocks it lacks without writing anything', () => {
    const p = mergeBlocks({ local: m([]), localRemovals: m([]), remote: m([['a.example', block('a.example', NOW - 10)]]), tombs: m([]), now: NOW });
    expect([...p.merged.keys()]).toEqual(['a.example']);
    expect(p.set).toEqual([]);
    expect(p.del).toEqual([]);
  });

  it('writes its own blocks the fleet lacks (made while Redis was away, or Redis lost them)', () => {
    const b = block('mine.example', NOW - 5);
    const p = mergeBlocks({ local: m([['mine.example', b]]), localRemovals: m([]), remote: m([]), tombs: m([]), now: NOW });
    expect(p.set).toEqual([b]);
    expect(p.merged.get('mine.example')).toEqual(b);
  });

  it('a removal newer than the block wins, an older one does not (re-blocked after)', () => {
    const old = block('gone.example', NOW - 100);
    const p = mergeBlocks({ local: m([['gone.example', old]]), localRemovals: m([]), remote: m([]), tombs: m([['gone.example', tomb(NOW - 50)]]), now: NOW });
    expect(p.merged.has('gone.example')).toBe(false);
    expect(p.set).toEqual([]);
    const again = block('gone.example', NOW - 10);
    const q = mergeBlocks({ local: m([['gone.example', again]]), localRemovals: m([]), remote: m([]), tombs: m([['gone.example', tomb(NOW - 50)]]), now: NOW });
    expect(q.merged.get('gone.example')).toEqual(again);
    expect(q.set).toEqual([again]);
  });

  it('a removal made here deletes the fleet\'s block and records when', () => {
    const r = block('x.example', NOW - 100);
    const t = tomb(NOW - 1);
    const p = mergeBlocks({ local: m([]), localRemovals: m([['x.example', t]]), remote: m([['x.example', r]]), tombs: m([]), now: NOW });
    expect(p.merged.size).toBe(0);
    expect(p.del).toEqual([['x.example', t]]);
  });

  it('a renewal (newer addition) replaces the older copy on the other side', () => {
    const older = block('r.example', NOW - 100, { reason: 'first' });
    const newer = block('r.example', NOW - 10, { reason: 'renewed' });
    expect(mergeBlocks({ local: m([['r.example', newer]]), localRemovals: m([]), remote: m([['r.example', older]]), tombs: m([]), now: NOW }).set).toEqual([newer]);
    const back = mergeBlocks({ local: m([['r.example', older]]), localRemovals: m([]), remote: m([['r.example', newer]]), tombs: m([]), now: NOW });
    expect(back.set).toEqual([]);
    expect(back.merged.get('r.example')).toEqual(newer);
  });

  it('expired blocks are pruned, old tombstones forgotten', () => {
    const p = mergeBlocks({
      local: m([]),
      localRemovals: m([]),
      remote: m([['old.example', block('old.example', NOW - 100, { expiresAt: NOW - 1 })]]),
      tombs: m([['ancient.example', tomb(NOW - TOMBSTONE_TTL_MS - 1)]]),
      now: NOW,
    });
    expect(p.merged.size).toBe(0);
    expect(p.pruneEntries).toEqual(['old.example']);
    expect(p.pruneTombs).toEqual(['ancient.example']);
  });

  it('reads only well-formed blocks from Redis', () => {
    expect(parseBlock('a.example', JSON.stringify(block('a.example', 1)))).toEqual(block('a.example', 1));
    expect(parseBlock('a.example', JSON.stringify(block('b.example', 1)))).toBe(null);
    expect(parseBlock('a.example', '{"name":"a.example"}')).toBe(null);
    expect(parseBlock('a.example', 'not json')).toBe(null);
    // A name the admin API would never store (not normalised, or two lines in one) is not trusted.
    expect(parseBlock('A.example', JSON.stringify(block('A.example', 1)))).toBe(null);
    expect(parseBlock('a.example\nb.example', JSON.stringify(block('a.example\nb.example', 1)))).toBe(null);
  });
});

describe('merging quarantine', () => {
  const q = (client: string, since: number, until: number): QuarantineEntry => ({ client, reason: `since ${since}`, since, until, address: client, mac: null, name: null, via: null });

  it('keeps the latest quarantine for as long as the longest one (never released early)', () => {
    const local = q('10.0.0.5', NOW - 100, NOW + 1000);
    const remote = q('10.0.0.5', NOW - 10, NOW + 500);
    const p = mergeQuarantine({ local: m([['10.0.0.5', local]]), localRemovals: m([]), remote: m([['10.0.0.5', remote]]), tombs: m([]), now: NOW });
    expect(p.merged.get('10.0.0.5')).toEqual({ ...remote, until: NOW + 1000 });
  });

  it('a release after the quarantine began releases it everywhere; a new quarantine after the release stands', () => {
    const e = q('10.0.0.6', NOW - 100, NOW + 1000);
    expect(mergeQuarantine({ local: m([['10.0.0.6', e]]), localRemovals: m([]), remote: m([['10.0.0.6', e]]), tombs: m([['10.0.0.6', tomb(NOW - 50)]]), now: NOW }).merged.size).toBe(0);
    const fresh = q('10.0.0.6', NOW - 10, NOW + 1000);
    expect(mergeQuarantine({ local: m([['10.0.0.6', fresh]]), localRemovals: m([]), remote: m([]), tombs: m([['10.0.0.6', tomb(NOW - 50)]]), now: NOW }).merged.get('10.0.0.6')).toEqual(fresh);
  });
});

describe('fleet view', () => {
  const rec = (instance: string, sha: string | null, extra: Partial<HeartbeatRecord> = {}): HeartbeatRecord => ({
    instance,
    runId: instance,
    host: 'h',
    pid: 1,
    version: '0.1.0',
    startedAt: NOW - 60_000,
    heartbeatAt: NOW - 1000,
    policyVersion: 3,
    emergencyVersion: 1,
    quarantineVersion: 0,
    emergencyBlocks: 0,
    quarantined: 0,
    lists: [{ list: 'intel', sha256: sha, entries: 1, lastSuccess: NOW - 5000 }],
    ...extra,
  });
  const firstSeen = m([['intel', m([['old', NOW - 3_600_000], ['new', NOW - 60_000]])]]);

  it('flags the live instance serving a version of a list the fleet saw before another instance\'s', () => {
    const v = fleetView({ records: [{ record: rec('a', 'new'), alive: true }, { record: rec('b', 'new'), alive: true }, { record: rec('c', 'old'), alive: true }], firstSeen, self: 'a', now: NOW });
    expect(v.instances.map((i) => [i.instance, i.flagged, i.behind])).toEqual([
      ['a', false, []],
      ['b', false, []],
      ['c', true, ['intel']],
    ]);
    expect(v.drift).toEqual([{ list: 'intel', newest: 'new', newestSeen: new Date(NOW - 60_000).toISOString(), behind: ['c'] }]);
  });

  it('a single instance with the newest version is not outvoted, and one with no copy is behind', () => {
    const v = fleetView({ records: [{ record: rec('a', 'old'), alive: true }, { record: rec('b', 'old'), alive: true }, { record: rec('c', 'new'), alive: true }, { record: rec('d', null), alive: true }], firstSeen, self: 'a', now: NOW });
    expect(v.instances.filter((i) => i.flagged).map((i) => i.instance)).toEqual(['a', 'b', 'd']);
  });

  it('a down instance is listed, not flagged, and does not decide the newest version', () => {
    const v = fleetView({ records: [{ record: rec('a', 'old'), alive: true }, { record: rec('z', 'new', { heartbeatAt: NOW - 600_000 }), alive: false }], firstSeen, self: 'a', now: NOW });
    expect(v.instances.map((i) => [i.instance, i.alive, i.flagged, i.heartbeatAgeSeconds])).toEqual([
      ['a', true, false, 1],
      ['z', false, false, 600],
    ]);
    expect(v.drift).toEqual([]);
  });

  it('c2dns fleet prints one line per instance and the drift', () => {
    const v = fleetView({ records: [{ record: rec('a', 'new'.padEnd(64, '0')), alive: true }, { record: rec('c', 'old'.padEnd(64, '0')), alive: true }], firstSeen: m([['intel', m([['old'.padEnd(64, '0'), NOW - 10_000], ['new'.padEnd(64, '0'), NOW - 1000]])]]), self: 'a', now: NOW });
    const text = formatFleet({ instance: 'a', redis: 'redis://127.0.0.1:6379/0', connected: true, heartbeatSeconds: 5, emergencyVersion: 4, ...v });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^fleet of a via redis:\/\/127\.0\.0\.1:6379\/0; emergency blocks version 4$/);
    expect(lines[1]).toMatch(/^INSTANCE\s+STATE\s+HEARTBEAT\s+POLICY\s+EMERGENCY\s+LISTS/);
    expect(lines[2]).toMatch(/^a \(this\)\s+up\s+1s ago\s+3\s+1\s+intel=new000000000$/);
    expect(lines[3]).toMatch(/^c\s+BEHIND\s+1s ago\s+3\s+1\s+intel=old000000000\(old\)$/);
    expect(lines[4]).toMatch(/^list intel: c serves an older version than new000000000/);
  });

  it('c2dns block --wait: the summary line and whether it was confirmed everywhere', () => {
    expect(propagationLine(null)).toEqual({ line: 'a single instance (no cluster section): in force there now', complete: true });
    const p = { version: 3, complete: false, expected: 3, applied: 2, elapsedMs: 2000, instances: [], missing: ['c'], summary: 'applied on 2/3 instances in 2000 ms; no acknowledgement within 2000 ms from c' };
    expect(propagationLine(p)).toEqual({ line: p.summary, complete: false });
  });
});

describe('fleet events in words (alert messages)', () => {
  it('a c2-hit names the instances that saw it; fleet-drift who is behind and who is ahead', () => {
    const hit = { id: '1', type: 'c2-hit', time: 't', severity: 'high', client: '10.0.0.5', qname: 'x.example', qtype: 'A', list: 'intel', rule: 'x.example', tags: ['c2'], instance: 'a', instances: ['a', 'b'] } as unknown as SecurityEvent;
    expect(summarize(hit)).toBe('C2 domain blocked: 10.0.0.5 asked x.example A (list intel, rule x.example, tags c2), seen by a, b');
    const drift = { id: '2', type: 'fleet-drift', time: 't', severity: 'medium', instance: 'c', list: 'intel', newestOn: ['a', 'b'], since: '2026-12-03T10:00:00.000Z' } as unknown as SecurityEvent;
    expect(summarize(drift)).toBe('Instance c serves an older version of list intel than a, b since 2026-12-03T10:00:00.000Z');
  });
});

describe('cluster config', () => {
  it('is optional: absent means a single instance', () => {
    expect(configSchema.parse({}).cluster).toBeUndefined();
  });

  it('fills in its defaults', () => {
    expect(configSchema.parse({ cluster: { redis: 'redis://10.0.0.5:6379/0' } }).cluster).toEqual({
      redis: 'redis://10.0.0.5:6379/0',
      ackTimeoutMs: 2000,
      heartbeatSeconds: 5,
      keyPrefix: 'c2dns:',
      alertGatherMs: 500,
      driftSeconds: 3600,
    });
  });

  it('refuses what is not a Redis URL, and bad instance names', () => {
    for (const redis of ['http://x:6379', 'localhost:6379', 'redis://', 'redis://h:6379/db']) expect(configSchema.safeParse({ cluster: { redis } }).success, redis).toBe(false);
    expect(configSchema.safeParse({ cluster: { redis: 'rediss://:pw@h:6380/2', instance: 'dns-1.site' } }).success).toBe(true);
    expect(configSchema.safeParse({ cluster: { redis: 'redis://h', instance: 'has space' } }).success).toBe(false);
  });

  it('names the instance after the host by default, and never shows the password', () => {
    expect(instanceName({ instance: 'dns1' }, 'host')).toBe('dns1');
    expect(instanceName({}, 'resolver.site.example')).toBe('resolver.site.example');
    expect(instanceName({}, '')).toBe('c2dns');
    expect(redactRedisUrl('redis://:secret@10.0.0.5:6379/0')).toBe('redis://:***@10.0.0.5:6379/0');
  });
});

describe('Serial', () => {
  it('runs one at a time and coalesces requests made meanwhile into one more run', async () => {
    let runs = 0;
    let active = 0;
    let maxActive = 0;
    const s = new Serial(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      await new Promise((r) => setTimeout(r, 10));
      active--;
    }, () => {});
    await Promise.all([s.request(), s.request(), s.request(), s.request()]);
    expect(runs).toBe(2);
    expect(maxActive).toBe(1);
    await s.request();
    expect(runs).toBe(3);
  });
});

describe('a single instance loads no Redis client', () => {
  const src = fileURLToPath(new URL('../../src', import.meta.url));
  const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));

  it('ioredis is imported only under src/fleet, and src/fleet only as types, its config, or dynamically by the feeds assembly', () => {
    for (const file of files(src)) {
      const text = readFileSync(file, 'utf8');
      const rel = file.slice(src.length + 1);
      if (rel.startsWith('fleet/')) continue;
      expect(text, rel).not.toMatch(/from 'ioredis'/);
      for (const m of text.matchAll(/^import (type )?[^;]*from '([^']*\/fleet\/[^']*)'/gm)) {
        expect(m[1] !== undefined || /\/fleet\/(config|types)\.js$/.test(m[2]!), `${rel}: ${m[0]}`).toBe(true);
      }
      // src/fleet/ itself (not commands/fleet.ts, the CLI's `c2dns fleet`, which cli.ts loads when it runs).
      if (/import\('[^']*\/fleet\//.test(text)) expect(rel).toBe('server/assemble/feeds.ts');
    }
    // The modules a single instance may load hold no Redis import either.
    for (const f of ['fleet/config.ts', 'fleet/types.ts']) expect(readFileSync(join(src, f), 'utf8')).not.toMatch(/ioredis/);
    expect(readFileSync(join(src, 'server/assemble/feeds.ts'), 'utf8')).toMatch(/if \(cfg\.cluster !== undefined && owner\) \{\n[^\n]*\n\s*const \{ Fleet \} = await import\('\.\.\/\.\.\/fleet\/index\.js'\)/);
  });
});
