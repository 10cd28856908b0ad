// The admin pieces without HTTP: the config section and token source, upstream health over
// time (fake clocks), the readiness verdict, and the parsers for durations, times and addresses.
import { describe, expect, it, vi } from 'vitest';
import { hostOfHeader, HostNames, isLoopback, NetworkList, parseNetwork, plainAddress } from '../../src/admin/access.js';
import { ADMIN_DEFAULT_LISTEN, adminListen, adminSchema, adminToken } from '../../src/admin/config.js';
import { canonicalIp, checkBearer, parseExpiresIn, parseSince } from '../../src/admin/http.js';
import { readinessReport, UpstreamHealth, type UpstreamHealthView } from '../../src/admin/readiness.js';
import type { SourceState } from '../../src/feeds/manager.js';
import { newCounters, type UpstreamCounters } from '../../src/upstream/counters.js';

describe('admin config', () => {
  it('defaults: enabled on loopback, open to loopback callers only, no extra host names, no token, console reads need the token off loopback, 60 s upstream window', () => {
    const c = adminSchema.parse(undefined);
    expect(c).toEqual({ enabled: true, listen: ADMIN_DEFAULT_LISTEN, allow: ['127.0.0.0/8', '::1/128'], hosts: [], token: null, consoleAuth: 'token', upstreamWindowSeconds: 60 });
    expect(() => adminSchema.parse({ consoleAuth: 'open' })).toThrow();
    expect(adminSchema.parse({ consoleAuth: 'none' }).consoleAuth).toBe('none');
    const port = adminListen(c).port;
    expect(adminListen(c)).toEqual({ host: '127.0.0.1', port, family: 4 });
    expect(adminListen(adminSchema.parse({ listen: '[::1]' }))).toEqual({ host: '::1', port, family: 6 });
    expect(adminListen(adminSchema.parse({ listen: '127.0.0.1:0' })).port).toBe(0);
  });

  it('admin.allow takes networks and bare addresses; admin.hosts takes names, lower-cased without a trailing dot', () => {
    const c = adminSchema.parse({ allow: ['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::/0'], hosts: ['C2DNS.Example.org.', 'c2dns'] });
    expect(c.allow).toEqual(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::/0']);
    expect(c.hosts).toEqual(['c2dns.example.org', 'c2dns']);
  });

  it('refuses networks with host bits, bad prefixes and names with ports, schemes or wildcards', () => {
    const issues = (v: unknown): string[] => {
      const r = adminSchema.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ allow: ['192.168.1.77/24'] })).toEqual([expect.stringMatching(/^allow\.0: host bits are set: the network is 192\.168\.1\.0\/24/)]);
    expect(issues({ allow: ['10.0.0.0/33'] })).toEqual([expect.stringMatching(/^allow\.0: expected a prefix length from 0 to 32/)]);
    expect(issues({ allow: ['fd00::1/8'] })).toEqual([expect.stringMatching(/^allow\.0: host bits are set: the network is fd00::\/8/)]);
    expect(issues({ allow: ['lan'] })).toEqual([expect.stringMatching(/^allow\.0: expected an IP network/)]);
    expect(issues({ allow: ['10.0.0.0/8/8'] })).toEqual([expect.stringMatching(/^allow\.0: expected an IP network/)]);
    expect(issues({ allow: [] })).toEqual([expect.stringMatching(/^allow: expected at least one network \(to turn the listener off: admin\.enabled: false\)/)]);
    for (const bad of ['c2dns.example.org:9153', 'http://c2dns', '*.example.org', '', 'a b']) {
      expect(issues({ hosts: [bad] }), bad).toEqual([expect.stringMatching(/^hosts\.0: expected a host name/)]);
    }
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

  it('says why a read needs the token, and how to configure one', () => {
    expect(checkBearer(undefined, null, 'read')?.message).toMatch(/not on loopback, so reading \/api needs the admin token, and none is configured: set admin\.token .* C2DNS_ADMIN_TOKEN/);
    expect(checkBearer(undefined, 'a'.repeat(16), 'read')?.message).toMatch(/not on loopback, so reading \/api and needs the header "Authorization: Bearer TOKEN"/);
    expect(checkBearer(undefined, null, 'change')?.message).toMatch(/changes through the admin API are disabled/);
  });
});

describe('admin access checks', () => {
  it('parseNetwork: canonical networks, bare addresses as /32 and /128', () => {
    expect(parseNetwork('10.0.0.0/8')).toEqual({ address: '10.0.0.0', bits: 8, family: 4 });
    expect(parseNetwork('192.0.2.7')).toEqual({ address: '192.0.2.7', bits: 32, family: 4 });
    expect(parseNetwork('0.0.0.0/0')).toEqual({ address: '0.0.0.0', bits: 0, family: 4 });
    expect(parseNetwork('FD00:0::/8')).toEqual({ address: 'fd00::', bits: 8, family: 6 });
    expect(parseNetwork('::ffff:10.0.0.0/104')).toEqual({ address: '::ffff:a00:0', bits: 104, family: 6 });
    expect(parseNetwork('2001:db8::1:0/112')).toEqual({ address: '2001:db8::1:0', bits: 112, family: 6 });
    expect(parseNetwork('2001:db8::1:1/112')).toMatch(/host bits are set: the network is 2001:db8::1:0\/112/);
    expect(parseNetwork('10.1.2.3/31')).toMatch(/host bits are set: the network is 10\.1\.2\.2\/31/);
  });

  it('NetworkList matches IPv4, IPv6, IPv4-mapped and zoned addresses', () => {
    const l = new NetworkList(['127.0.0.0/8', '::1/128', '192.168.0.0/16', 'fe80::/10']);
    expect(l.has('127.0.0.1')).toBe(true);
    expect(l.has('127.255.0.9')).toBe(true);
    expect(l.has('::1')).toBe(true);
    expect(l.has('::ffff:192.168.4.2')).toBe(true);
    expect(l.has('fe80::1%eth0')).toBe(true);
    expect(l.has('10.0.0.1')).toBe(false);
    expect(l.has('::2')).toBe(false);
    expect(l.has('::ffff:10.0.0.1')).toBe(false);
    expect(l.has('not an address')).toBe(false);
    expect(new NetworkList([]).has('127.0.0.1')).toBe(false);
    expect(() => new NetworkList(['10.0.0.1/8'])).toThrow(/admin\.allow: "10\.0\.0\.1\/8": host bits are set/);
  });

  it('isLoopback and plainAddress', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopback(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '::2', '::ffff:10.0.0.1']) expect(isLoopback(a), a).toBe(false);
    expect(plainAddress('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(plainAddress('FE80::1%eth0')).toBe('fe80::1');
  });

  it('hostOfHeader reads names, IPv4 and bracketed IPv6 with optional ports', () => {
    expect(hostOfHeader('LocalHost:9153')).toBe('localhost');
    expect(hostOfHeader('c2dns.example.org.')).toBe('c2dns.example.org');
    expect(hostOfHeader('192.0.2.1:80')).toBe('192.0.2.1');
    expect(hostOfHeader('[::1]:9153')).toBe('::1');
    expect(hostOfHeader('[::1]')).toBe('::1');
    for (const bad of ['[::1', '[::1]x', '[evil]:80', 'a:b', ':80', 'host:99999999', '']) expect(hostOfHeader(bad), bad).toBeNull();
  });

  it('HostNames accepts localhost, IP literals and admin.hosts, and refuses other names saying why', () => {
    const h = new HostNames(['c2dns.example.org']);
    for (const ok of [undefined, 'localhost', 'localhost:9153', '127.0.0.1:9153', '[::1]:9153', '10.1.2.3', 'C2DNS.example.org:443', 'c2dns.example.org.']) expect(h.check(ok), String(ok)).toBeNull();
    expect(h.check('evil.example:9153')).toMatch(/names "evil\.example", which is not an address of this admin listener, "localhost", or a name in admin\.hosts \(c2dns\.example\.org\).*DNS rebinding/);
    expect(h.check('localhost.evil.example')).toMatch(/DNS rebinding/);
    expect(h.check('[nope')).toMatch(/not a host name or address/);
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
