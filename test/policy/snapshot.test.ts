// Building a snapshot's tables while queries are answered (issue 11 target 4): the build gives the
// event loop back once a slice of time is spent, however fast the rules go in, and the tables it
// builds in slices are the ones a build in one go makes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Guard } from '../../src/blocklist/guard.js';
import { NameTable } from '../../src/blocklist/names.js';
import { DomainTrie } from '../../src/blocklist/trie.js';
import { listConfig } from '../../src/config/schema.js';
import { compileSource } from '../../src/feeds/compile.js';
import { BUILD_SLICE_MS, buildTables, type PolicySource } from '../../src/policy/snapshot.js';

const NAMES = 60_000;
const name = (i: number): string => `host${i}.c2-${i % 977}.example`;

function source(): PolicySource {
  const cfg = listConfig({ name: 'c2', path: '/lists/c2.txt', format: 'plain', tags: ['c2'] });
  const text = Array.from({ length: NAMES }, (_, i) => name(i)).join('\n') + '\n';
  const c = compileSource(text, cfg, new Guard([]), new NameTable(), Date.now());
  return { list: 'c2', kind: 'block', watch: false, action: null, tags: ['c2'], rules: c.rules, ips: [], firstSeen: 0 };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('buildTables', () => {
  it('yields once a slice of time is spent, whatever the number of rules in it', async () => {
    // A clock that moves 1 ms at every read: a slice ends after BUILD_SLICE_MS reads.
    let clock = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => clock++);
    let turns = 0;
    await buildTables([source()], async () => {
      turns++;
    });
    // Each turn adds at most BUILD_SLICE_MS + 1 chunks (a first one, then one per read under the
    // budget): with 2,048 rules a chunk, 60,000 rules need at least 60,000 / (5 * 2,048) turns.
    expect(turns).toBeGreaterThanOrEqual(Math.floor(NAMES / ((BUILD_SLICE_MS + 1) * 2048)));
    // and a build whose clock does not move finishes in one turn: the budget is time, not rules
    vi.spyOn(performance, 'now').mockImplementation(() => 0);
    let still = 0;
    await buildTables([source()], async () => {
      still++;
    });
    expect(still).toBe(0);
  });

  it('builds in slices the table a build in one go makes', async () => {
    let clock = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => clock++);
    const s = source();
    const sliced = await buildTables([s], () => Promise.resolve());
    const whole = DomainTrie.fromSets([s.rules]);
    expect(sliced.names.size).toBe(NAMES);
    for (let i = 0; i < NAMES; i += 997) {
      for (const q of [name(i), `www.${name(i)}`]) expect(sliced.names.match(q)?.rule).toBe(whole.match(q)?.rule);
    }
    expect(sliced.names.match('not-listed.example')).toBeNull();
  });
});
