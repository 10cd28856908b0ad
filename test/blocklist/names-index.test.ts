// NameTable's index (indexNames: its every rebuild, and a table read from a first-seen image):
// each name once in its slot value, so the table finds, interns and grows with it.
import { describe, expect, it } from 'vitest';
import { hashBytes, indexNames, NameTable } from '../../src/blocklist/names.js';

/** Name i: unique by its "i." prefix, of length i % 41 or just over (every remainder of a 4-byte step), with bytes up to 0xff; name 0 is empty. */
function nameOf(i: number): string {
  if (i === 0) return '';
  let s = `${i}.`;
  for (let k = 0; s.length < i % 41; k++) s += String.fromCharCode(k % 3 === 0 ? 0xe9 : 97 + ((i + k) % 26));
  return s;
}

function tableOf(n: number): NameTable {
  const t = new NameTable();
  for (let i = 0; i < n; i++) t.set(nameOf(i), 1_700_000_000_000);
  return t;
}

/** The table's names with the index indexNames builds for them. */
function reindexed(t: NameTable): NameTable {
  const p = t.toParts();
  return NameTable.fromParts({ ...p, index: indexNames(p.buf, p.ends, p.n, 1) });
}

describe('indexNames', () => {
  it('holds each name once, in the slot value NameTable gives it: (hash & ~mask) | (id + 1)', () => {
    const t = tableOf(5000);
    const p = t.toParts();
    const index = indexNames(p.buf, p.ends, p.n, 1);
    const mask = index.length - 1;
    const want = Array.from({ length: p.n }, (_, id) => (hashBytes(p.buf, t.start(id), t.end(id)) & ~mask) | (id + 1)).sort((a, b) => a - b);
    expect([...index].filter((v) => v !== 0).sort((a, b) => a - b)).toEqual(want);
    expect(index.length).toBeGreaterThanOrEqual(p.n + 1); // room for the next name without a rebuild
  });

  it.each([0, 1, 7, 40, 300, 4000])('%i names: every name is found at its id, an absent one is not, and the table grows', (n) => {
    const t = tableOf(n);
    const back = reindexed(t);
    for (let id = 0; id < n; id++) {
      const name = t.name(id);
      expect(back.find(name, 0, name.length)).toBe(id);
    }
    expect(back.find('absent.example', 0, 14)).toBe(-1);
    back.set('grown.example', 5);
    expect(back.get('grown.example')).toBe(5);
    expect(back.size).toBe(n + 1);
    if (n > 0) expect(back.find(t.name(n - 1), 0, t.name(n - 1).length)).toBe(n - 1);
  });

  it('small tables, whose probe runs wrap past the index end, are found whole', () => {
    for (let n = 1; n <= 200; n++) {
      const t = tableOf(n);
      const back = reindexed(t);
      const found = Array.from({ length: n }, (_, id) => back.find(t.name(id), 0, t.name(id).length));
      expect(found).toEqual(Array.from({ length: n }, (_, id) => id));
    }
  });
});
