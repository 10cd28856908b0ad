// Cluster mode: a worker's AlertForwarder sends C2 hits and emitted events to the owner, whose
// SecurityEvents aggregates them exactly as if it had answered the queries itself.
import { describe, expect, it } from 'vitest';
import { AlertForwarder, receiveAlert, type AlertMessage } from '../../src/respond/cluster.js';
import { SecurityEvents, type SecurityEvent } from '../../src/respond/security-events.js';
import { Clock, query, rule } from './helpers.js';

describe('AlertForwarder → receiveAlert', () => {
  it('hits from two workers fold into one window on the owner; other queries are not sent', () => {
    const clock = new Clock();
    const owner = new SecurityEvents({ now: clock.now, sweepIntervalMs: 0 });
    const got: SecurityEvent[] = [];
    owner.subscribe((e) => got.push(e));
    const wire: AlertMessage[] = [];
    // Through JSON, as the IPC channel serialises.
    const send = (m: AlertMessage): void => {
      wire.push(JSON.parse(JSON.stringify(m)) as AlertMessage);
    };
    const w2 = new AlertForwarder(['c2'], send);
    const w3 = new AlertForwarder(['c2'], send);
    const r = rule('evil.example', ['c2'], 'intel', { ref: 'ref-1', line: 4 });
    w2.onQuery(query('10.0.0.5', 'a.evil.example', r));
    w3.onQuery(query('10.0.0.5', 'b.evil.example', r, 'blocked', 28));
    w2.onQuery(query('10.0.0.5', 'example.org', null, 'allowed'));
    w3.onQuery(query('10.0.0.5', 'ads.example', rule('ads.example', ['ads'])));
    w2.emit({ type: 'quarantine', client: '10.0.0.5' });
    expect(wire).toHaveLength(3);
    for (const m of wire) expect(receiveAlert(owner, m)).toBe(true);
    owner.stop();
    expect(got.map((e) => e.type)).toEqual(['c2-hit', 'quarantine', 'c2-hit-summary']);
    expect(got[0]).toMatchObject({ client: '10.0.0.5', qname: 'a.evil.example', qtype: 'A', list: 'intel', ref: 'ref-1', line: 4 });
    expect(got[2]).toMatchObject({ count: 2, qnames: ['a.evil.example', 'b.evil.example'] });
  });

  it('ignores what is not an alert message; a closed channel is counted, not thrown', () => {
    const owner = new SecurityEvents({ sweepIntervalMs: 0 });
    expect(receiveAlert(owner, { type: 'lists-changed' })).toBe(false);
    expect(receiveAlert(owner, { type: 'c2dns-alert', hit: { client: 1 } })).toBe(false);
    expect(receiveAlert(owner, null)).toBe(false);
    const f = new AlertForwarder(['c2'], () => {
      throw new Error('channel closed');
    });
    f.onQuery(query('10.0.0.5', 'evil.example', rule('evil.example')));
    expect(f.lost).toBe(1);
  });
});
