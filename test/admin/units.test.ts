// The admin pieces without HTTP: the config section and token source, upstream health over
// time (fake clocks), the readiness verdict, and the parsers for durations, times and addresses.
import { describe, expect, it, vi } from 'vitest';
import { adminListen, adminSchema, adminToken } from '../../src/admin/config.js';
import { canonicalIp, checkBearer, parseExpiresIn, parseSince } from '../../src/admin/http.js';
import { readinessReport, UpstreamHealth, type UpstreamHealthView } from '../../src/admin/readiness.js';
import type { SourceState } from '../../src/feeds/manager.js';
import { newCounters, type UpstreamCounters } from '../../src/upstream/counters.js';

describe('admin config', () => {
  it('defaults: enabled on 127.0.0.1:9153, no token, 60 s upstream window', () => {
    const c = adminSchema.parse(undefined);
    expect(c).toEqual({ enabled: true, listen: '127.0.0.1:9153', token: null, upstreamWindowSeconds: 60 });
    expect(adminListen(c)).toEqual({ host: '127.0.0.1', port: 9153, family: 4 });
    expect(adminListen(adminSchema.parse({ listen: '[::1]' }))).toEqual({ host: '::1', port: 9153, family: 6 });
    expect(adminListen(adminSchema.parse({ listen: '127.0.0.1:0' })).port).toBe(0);
  });

  it('refuses a short token, a bad address and unknown keys', () => {
    const issues = (v: unknown): string[] => {
      const r = adminSchema.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ token: 'short' })).toEqual([expect.stringMatching(/^token: expected at least 16 characters/)]);
    expect(issues({ listen: 'localhost:9153' })).toEqual([expect.stringMatching(/^listen: expected ADDR\[:PORT\]/)]);
    expect(issues({ listen: '127.0.0.1:70000' })).toEqual([expect.stringMatching(/^listen: .*0-65535/)]);
    expect(issues({ tokens: 'x' })).toEqual([expect.stringMatching(/Unrecognized key/)]);
  });

  it('takes the token from C2DNS_ADMIN_TOKEN before the file, and refuses a short one', () => {
    const c = adminSchema.parse({ token: 'from-the-file-0123456789' });
    expect(adminToken(c, {})).toBe('from-the-file-0123456789');
    expect(adminToken(c, { C2DNS_ADMIN_TOKEN: '' })).toBe('from-the-file-0123456789');
    expect(adminToken(c, { C2DNS_ADMIN_TOKEN: 'from-the-environment-0123' })).toBe('from-the-environment-0123');
    expect(adminToken(adminSchema.parse({}), {})).toBeNull();
    expect(() => adminToken(c, { C2DNS_ADMIN_TOKEN: 'short' })).toThrow(/C2DNS_ADMIN_TOKEN: expected at least 16 characters/);
  });
});

describe('bearer check', () => {
  it('answers 403 without a configured token, 401 for anything but the exact token', () => {
    expect(checkBearer('Bearer x', null)?.status).toBe(403);
    expect(checkBearer(undefined, 'a'.repeat(16))?.status).toBe(401);
    expect(checkBearer(`Bearer ${'a'.repeat(15)}`, 'a'.repeat(16))?.status).toBe(401);
    expect(checkBearer(`Bearer ${'a'.repeat(17)}`, 'a'.repeat(16))?.status).toBe(401);
    expect(checkBearer(`Bearer ${'a'.repeat(16)}`, 'a'.repeat(16))).toBeNull();
    expect(checkBearer(`BEARER   ${'a'.repeat(16)} `, 'a'.repeat(16))).toBeNull();
  });
});

describe('parsers', () => {
  it('expiresIn: s/m/h/d units or seconds, 1 s to 365 d', () => {
    expect(parseExpiresIn('30m')).toBe(1800);
    expect(parseExpiresIn('1h')).toBe(3600);
    expect(parseExpiresIn('7d')).toBe(604_800);
    expect(parseExpiresIn(' 45s ')).toBe(45);
    expect(parseExpiresIn('600')).toBe(600);
    expect(parseExpiresIn(600)).toBe(600);
    expect(parseExpiresIn('365d')).toBe(31_536_000);
    for (const bad of ['366d', '0', 0, -5, 1.5, '1.5h', '1w', 'h', '', '1 hour', Infinity, NaN]) expect(typeof parseExpiresIn(bad), String(bad)).toBe('string');
  });

  it('since: ISO 8601, Unix seconds, or milliseconds from 10^11 up', () => {
    expect(parseSince('2026-03-01T10:00:00Z')).toBe(Date.parse('2026-03-01T10:00:00Z'));
    expect(parseSince('2026-03-01T12:00:00+02:00')).toBe(Date.parse('2026-03-01T10:00:00Z'));
    expect(parseSince('2026-03-01')).toBe(Date.parse('2026-03-01T00:00:00Z'));
    expect(parseSince('1772359200')).toBe(1_772_359_200_000);
    expect(parseSince('1772359200.25')).toBe(1_772_359_200_250);
    expect(parseSince('1772359200123')).toBe(1_772_359_200_123);
    expect(parseSince('0')).toBe(0);
    for (const bad of ['yesterday', '-5', '2026-02-30T25:00:00Z', 'March 1, 2026', '1e12', '']) expect(typeof parseSince(bad), bad).toBe('string');
  });

  it('client addresses in the form the listeners report them', () => {
    expect(canonicalIp('192.0.2.1')).toBe('192.0.2.1');
    expect(canonicalIp('2001:DB8:0:0::1')).toBe('2001:db8::1');
    expect(canonicalIp('::FFFF:192.0.2.1')).toBe('::ffff:192.0.2.1');
    expect(canonicalIp('192.0.2.256')).toBeNull();
    expect(canonicalIp('host')).toBeNull();
  });
});

describe('upstream health', () => {
  function rig(windowMs = 60_000) {
    let mono = 1_000_000;
    let wall = Date.parse('2026-03-01T10:00:00Z');
    const u: { label: string; counters: UpstreamCounters; penalisedUntil: number } = { label: '192.0.2.53:53', counters: newCounters(), penalisedUntil: 0 };
    const h = new UpstreamHealth([u], { windowMs, monotonic: () => mono, wall: () => wall });
    const advance = (ms: number): void => {
      mono += ms;
      wall += ms;
    };
    return { u, h, advance, now: () => mono };
  }

  it('is healthy before it has been asked anything', () => {
    const { h } = rig();
    expect(h.status()[0]).toMatchObject({ healthy: true, reason: null, lastResponse: null, lastTimeout: null, penalisedForMs: 0 });
  });

  it('is unhealthy while penalised', () => {
    const { u, h, now } = rig();
    u.penalisedUntil = now() + 5000;
    expect(h.status()[0]).toMatchObject({ healthy: false, penalisedForMs: 5000, reason: 'timed out recently: tried last for another 5000 ms' });
  });

  it('is unhealthy after timeouts with no reply in the window, healthy again after a reply or once the window passes', () => {
    const { u, h, advance } = rig(60_000);
    u.counters.requests = 1;
    u.counters.timeouts = 1;
    h.sample();
    advance(10_000);
    let s = h.status()[0]!;
    expect(s).toMatchObject({ healthy: false, reason: 'timed out within the last 60 s and did not reply in that time', lastTimeout: '2026-03-01T10:00:00.000Z' });
    u.counters.responses = 1; // it answered
    s = h.status()[0]!;
    expect(s).toMatchObject({ healthy: true, lastResponse: '2026-03-01T10:00:10.000Z' });
    advance(120_000);
    u.counters.timeouts = 2; // a new timeout, the last reply is older than the window
    expect(h.status()[0]!.healthy).toBe(false);
    advance(61_000); // nothing new for longer than the window
    expect(h.status()[0]!.healthy).toBe(true);
  });

  it('samples on a timer that does not keep the process alive', () => {
    vi.useFakeTimers();
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    try {
      const { u, h, advance } = rig();
      h.start(10);
      h.start(10); // idempotent
      expect(setIntervalSpy).toHaveBeenCalledTimes(1);
      expect(vi.getTimerCount()).toBe(1);
      const timer: NodeJS.Timeout = setIntervalSpy.mock.results[0]!.value;
      expect(timer.hasRef()).toBe(false);
      // A reply seen by the timer's sample is stamped with the time of that tick, not with the
      // time of the later status() call.
      u.counters.responses = 1;
      vi.advanceTimersByTime(10);
      advance(5000);
      expect(h.status()[0]!.lastResponse).toBe('2026-03-01T10:00:00.000Z');
      h.stop();
      h.stop();
      expect(vi.getTimerCount()).toBe(0);
      // Stopped: a later reply is only noticed by status() itself.
      u.counters.responses = 2;
      vi.advanceTimersByTime(1000);
      advance(5000);
      expect(h.status()[0]!.lastResponse).toBe('2026-03-01T10:00:10.000Z');
    } finally {
      setIntervalSpy.mockRestore();
      vi.useRealTimers();
    }
  });
});

describe('readiness verdict', () => {
  const source = (name: string, loaded: boolean): SourceState =>
    ({
      config: { name },
      compiled: loaded ? { rules: [{}, {}] } : null,
      sha256: null,
      fromLastGood: false,
      lastSuccess: loaded ? Date.parse('2026-03-01T09:00:00Z') : null,
      lastFailure: loaded ? null : { at: Date.parse('2026-03-01T09:30:00Z'), reason: 'http-status', message: 'HTTP 503' },
    }) as unknown as SourceState;
  const up = (penalisedUntil: number): UpstreamHealthView => ({ label: `u${penalisedUntil}`, counters: newCounters(), penalisedUntil });
  const health = (...ups: UpstreamHealthView[]): UpstreamHealth => new UpstreamHealth(ups, { windowMs: 60_000, monotonic: () => 1000 });

  it('is ready with every list loaded and one healthy upstream of two', () => {
    const r = readinessReport({ sources: [source('a', true)] }, health(up(5000), up(0)), () => []);
    expect(r.ready).toBe(true);
    expect(r.problems).toEqual([]);
    expect(r.lists[0]).toMatchObject({ list: 'a', loaded: true, entries: 2, lastSuccess: '2026-03-01T09:00:00.000Z', stale: false });
  });

  it('names every unloaded list and the unhealthy upstreams', () => {
    const r = readinessReport({ sources: [source('a', true), source('b', false)] }, health(up(5000)), () => [{ list: 'a', lastSuccess: 0, thresholdSeconds: 3600 }]);
    expect(r.ready).toBe(false);
    expect(r.problems).toEqual([
      'list "b" has no usable copy (last failure: http-status: HTTP 503)',
      'no healthy upstream: u5000 timed out recently: tried last for another 4000 ms',
    ]);
    expect(r.lists[0]).toMatchObject({ stale: true, staleThresholdSeconds: 3600 });
    expect(r.lists[1]).toMatchObject({ loaded: false, lastFailure: { at: '2026-03-01T09:30:00.000Z', reason: 'http-status', message: 'HTTP 503' } });
  });

  it('stays ready when a list is only stale', () => {
    const r = readinessReport({ sources: [source('a', true)] }, health(up(0)), () => [{ list: 'a', lastSuccess: null, thresholdSeconds: 60 }]);
    expect(r.ready).toBe(true);
    expect(r.lists[0]!.stale).toBe(true);
  });
});
