// DomainSuffixes: which configured domain a name is at or under (conditional forwarding's routes,
// the local stage's zones): the most specific one, at label boundaries only.
import { describe, expect, it } from 'vitest';
import { DomainSuffixes } from '../../src/resolve/conditional.js';

describe('DomainSuffixes', () => {
  const routes = new DomainSuffixes<string>([
    ['corp.example', 'corp'],
    ['eu.corp.example', 'eu'],
    ['home.arpa', 'home'],
    ['localhost', 'localhost'],
    ['lan', 'lan'],
  ]);

  it('gives the most specific domain a name is at or under', () => {
    expect(routes.match('corp.example')).toBe('corp');
    expect(routes.match('host.corp.example')).toBe('corp');
    expect(routes.match('host.eu.corp.example')).toBe('eu');
    expect(routes.match('printer.home.arpa')).toBe('home');
    expect(routes.match('localhost')).toBe('localhost');
    expect(routes.match('nas.lan')).toBe('lan');
  });

  it('matches whole labels only, and last labels exactly (same length or not)', () => {
    expect(routes.match('xcorp.example')).toBeUndefined();
    expect(routes.match('corp.examples')).toBeUndefined();
    expect(routes.match('host.other.example')).toBeUndefined();
    expect(routes.match('ip6.arpa')).toBeUndefined(); // a known last label, no domain of it matches
    expect(routes.match('nas.lab')).toBeUndefined(); // the length of "lan", another label
    expect(routes.match('nas.xlan')).toBeUndefined();
    expect(routes.match('lan.example')).toBeUndefined();
    expect(routes.match('')).toBeUndefined();
  });

  it('an empty set matches nothing', () => {
    expect(new DomainSuffixes<number>([]).match('host.corp.example')).toBeUndefined();
  });
});
