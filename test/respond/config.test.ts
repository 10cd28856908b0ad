// The alerts configuration: embedded defaults, the sink union, stable sink names, and the
// mistakes it refuses (duplicate sinks, unknown keys, bad values).
import { describe, expect, it } from 'vitest';
import { alertsSchema, sinkNameOf } from '../../src/respond/config.js';

describe('alertsSchema', () => {
  it('has working defaults with no configuration at all', () => {
    expect(alertsSchema.parse(undefined)).toEqual({
      c2Tags: ['c2'],
      windowSeconds: 600,
      maxTracked: 10_000,
      recentEvents: 1000,
      staleFeedSeconds: 21_600,
      staleFeedOverrides: {},
      spool: { maxEvents: 10_000, maxBytes: 16 * 1024 * 1024, retryBaseMs: 1000, retryMaxMs: 300_000 },
      sinks: [],
    });
  });

  it('fills each sink type with its defaults', () => {
    const a = alertsSchema.parse({
      sinks: [
        { type: 'webhook', url: 'https://hooks.slack.com/services/T/B/X', format: 'slack' },
        { type: 'syslog', host: 'siem.example', protocol: 'tcp', cef: true },
        { type: 'file', path: '/var/log/c2dns/alerts.jsonl', name: 'local-file' },
      ],
    });
    expect(a.sinks).toEqual([
      { type: 'webhook', url: 'https://hooks.slack.com/services/T/B/X', format: 'slack', headers: {}, timeoutMs: 5000 },
      { type: 'syslog', host: 'siem.example', port: 514, protocol: 'tcp', facility: 'local0', appName: 'c2dns', cef: true, timeoutMs: 5000 },
      { type: 'file', path: '/var/log/c2dns/alerts.jsonl', name: 'local-file' },
    ]);
    const names = a.sinks.map(sinkNameOf);
    expect(names[0]).toMatch(/^webhook-[0-9a-f]{10}$/);
    expect(names[0]).not.toContain('hooks'); // the URL (a secret for Slack) does not leak into names
    expect(names[2]).toBe('local-file');
  });

  it('refuses two sinks that would share a spool, unknown keys and bad values', () => {
    const dup = alertsSchema.safeParse({ sinks: [{ type: 'file', path: '/a' }, { type: 'file', path: '/a' }] });
    expect(dup.success).toBe(false);
    expect(dup.error?.issues[0]?.path).toEqual(['sinks', 1, 'name']);
    expect(alertsSchema.safeParse({ sinks: [{ type: 'file', path: '/a' }, { type: 'file', path: '/a', name: 'second' }] }).success).toBe(true);
    expect(alertsSchema.safeParse({ sinks: [{ type: 'email', to: 'x' }] }).success).toBe(false);
    expect(alertsSchema.safeParse({ sinks: [{ type: 'webhook', url: 'ftp://x.example/' }] }).success).toBe(false);
    expect(alertsSchema.safeParse({ sinks: [{ type: 'syslog', host: 'h', facility: 'local9' }] }).success).toBe(false);
    expect(alertsSchema.safeParse({ sinks: [{ type: 'syslog', host: 'h', appName: 'has space' }] }).success).toBe(false);
    expect(alertsSchema.safeParse({ windowSecond: 5 }).success).toBe(false);
    expect(alertsSchema.safeParse({ spool: { maxEvents: 0 } }).success).toBe(false);
    expect(alertsSchema.safeParse({ spool: { retryBaseMs: 5000, retryMaxMs: 1000 } }).success).toBe(false);
    expect(alertsSchema.safeParse({ staleFeedOverrides: { feed: -1 } }).success).toBe(false);
  });
});
