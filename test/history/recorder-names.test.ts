// A segment's name table: names interned as bytes (no string or Map entry kept per name), the
// same ids and the same strings frames as a Map of strings gave, whatever the names.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FRAME_STRINGS, KIND_NAME } from '../../src/history/format.js';
import { hunt } from '../../src/history/hunt.js';
import { HistoryRecorder, NameTable } from '../../src/history/recorder.js';
import { NameSlots, queryName } from '../../src/observe/name-slots.js';
import { event } from './fixtures.js';

/** The strings frame as the format describes it, built the obvious way. */
function expectedFrame(names: readonly string[]): Buffer {
  const parts = names.map((s) => {
    const b = Buffer.from(s.length > 16_000 ? s.slice(0, 16_000) : s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16LE(b.length);
    return Buffer.concat([len, b]);
  });
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(10);
  head[0] = FRAME_STRINGS;
  head.writeUInt32LE(5 + body.length, 1);
  head[5] = KIND_NAME;
  head.writeUInt32LE(names.length, 6);
  return Buffer.concat([head, body]);
}

const odd = ['', 'bücher.example', 'xn--bcher-kva.example', 'a\\032b.example', '日本.example', 'l'.repeat(2000), 'm'.repeat(20_000), `${'m'.repeat(16_000)}x`, 'tab\there.example'];

describe('a segment name table', () => {
  it('gives ids in first-seen order, the same id to a name seen again, and frames byte for byte as the format says', () => {
    const t = new NameTable();
    const names: string[] = [];
    for (let i = 0; i < 50_000; i++) names.push(`h${i}.c2-${i % 97}.example`);
    names.splice(25_000, 0, ...odd);
    const ids = (list: readonly string[]): number[] => list.map((s) => t.id(s));
    const first = ids(names);
    expect(first.every((id, i) => id === i)).toBe(true);
    expect(t.size).toBe(names.length);
    const again = ids([...names].reverse()).reverse();
    expect(again.every((id, i) => id === i)).toBe(true);
    expect(t.id('h1.c2-1.exampl')).toBe(names.length); // a prefix of a known name is a name of its own
    // Buffer.equals: vitest's toEqual compares a megabyte byte by byte far too slowly.
    expect(t.frame(KIND_NAME, 0, names.length).equals(expectedFrame(names))).toBe(true);
    expect(t.frame(KIND_NAME, 24_990, 25_020)).toEqual(expectedFrame(names.slice(24_990, 25_020)));
  });

  it('tells apart names whose hashes collide in the table', () => {
    // Many short names in a small table: every probe chain is exercised.
    const t = new NameTable();
    const names = Array.from({ length: 5000 }, (_, i) => i.toString(36));
    expect(names.map((s) => t.id(s))).toEqual(names.map((_s, i) => i));
    expect(names.map((s) => t.id(s))).toEqual(names.map((_s, i) => i));
  });

  it('gives the same ids whatever other names the observers sharing queryName read in between', () => {
    // The table reads a name's bytes through queryName, which the console ring and the c2-hit
    // windows (NameSlots) load too: another name loaded between two queries, or the same text in
    // a new string, must not change what the table finds or stores.
    const t = new NameTable();
    const slots = new NameSlots(1);
    const names = ['a.example', 'b.example', 'a.example.', 'ab.example', 'b\u00e4.example', 'a.example'];
    const ids: number[] = [];
    for (const [k, name] of names.entries()) {
      slots.copy(0, `other-${k}.example`);
      queryName.load(names[(k + 1) % names.length]!);
      ids.push(t.id([...name].join(''))); // the same text in a new string
      slots.copy(0, name);
      expect(t.id(name)).toBe(ids[k]);
    }
    expect(ids).toEqual([0, 1, 2, 3, 4, 0]);
    expect(t.frame(KIND_NAME, 0, t.size)).toEqual(expectedFrame(names.slice(0, 5)));
  });
});

describe('the recorder with many new names', () => {
  it('writes every name once per segment, across batches, and a hunt finds them (ASCII and not)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-hist-names-'));
    const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
    const rec = new HistoryRecorder({ dir, now: () => T0 + 600_000, batchRecords: 1000, maxBufferedRecords: 100_000 });
    for (let i = 0; i < 20_000; i++) rec.onQuery(event({ time: T0 + i, client: `10.0.${(i >> 8) & 255}.${i & 255}`, qname: i % 1000 === 999 ? `bücher${i}.evil.example` : `n${i}.evil.example`, action: 'blocked' }));
    for (let i = 0; i < 20_000; i += 2) rec.onQuery(event({ time: T0 + 30_000 + i, client: '10.9.9.9', qname: `n${i}.evil.example` })); // seen again: no new name
    await rec.close();
    expect(rec.stats()).toMatchObject({ recorded: 30_000, dropped: 0 });
    const hits = await hunt(dir, { names: new Set(['evil.example']), since: 0 });
    expect(hits.reduce((n, h) => n + h.count, 0)).toBe(30_000);
    expect(new Set(hits.map((h) => h.name)).size).toBe(20_000);
    expect(hits.filter((h) => h.name === 'bücher999.evil.example')).toHaveLength(1);
    expect(hits.filter((h) => h.name === 'n19998.evil.example').map((h) => h.client)).toEqual(expect.arrayContaining(['10.0.78.30', '10.9.9.9']));
  });
});
