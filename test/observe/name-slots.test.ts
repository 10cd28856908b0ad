// Query names kept per slot as bytes: every name comes back as it went in, whether it was kept as
// bytes (plain ASCII, 1-64 characters) or as the string (longer, non-ASCII, empty, or kept as is),
// across slot reuse and growth; is() agrees with get() without making the string.
import { describe, expect, it } from 'vitest';
import { AsciiName, MAX_ASCII_NAME, NameSlots } from '../../src/observe/name-slots.js';

const NAMES = ['a.example', 'x'.repeat(64), `${'y'.repeat(60)}.example`, 'caf\u00e9.example', '\u4e2d\u6587.example', '', 'q"u\\ote.example', 'h000001.bench.test'];

describe('name slots', () => {
  it('give back every name as copied or kept, a slot reused by a shorter name, and null for a null slot', () => {
    const slots = new NameSlots(2);
    for (const [k, name] of NAMES.entries()) {
      slots.copy(k % 2, name);
      expect(slots.get(k % 2)).toBe(name);
    }
    const rule = 'msstorageazure.com';
    slots.keep(0, rule);
    expect(slots.get(0)).toBe(rule);
    slots.keep(1, null);
    expect(slots.get(1)).toBeNull();
  });

  it('is(): true for the very name in the slot only, whether kept as bytes or as the string', () => {
    const slots = new NameSlots(1);
    for (const name of NAMES) {
      slots.copy(0, name);
      expect(slots.is(0, name)).toBe(true);
      for (const other of [`${name}x`, name.slice(0, -1), 'b.example']) if (other !== name) expect(slots.is(0, other)).toBe(false);
      expect(slots.is(0, null)).toBe(false);
    }
    slots.keep(0, null);
    expect(slots.is(0, null)).toBe(true);
    expect(slots.is(0, '')).toBe(false);
  });

  it('keep the names already in when they grow', () => {
    const slots = new NameSlots();
    slots.grow(2);
    slots.copy(0, 'a.example');
    slots.copy(1, NAMES[3]!);
    slots.grow(1000);
    slots.copy(999, 'z.example');
    expect([slots.get(0), slots.get(1), slots.get(2), slots.get(999)]).toEqual(['a.example', NAMES[3], null, 'z.example']);
  });
});

/** FNV-1a over UTF-16 code units, int32, written out the obvious way. */
function fnv(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h;
}

describe('the query name read once for every observer', () => {
  it('gives a plain ASCII name\'s length, bytes and hash, and -1 for one beyond ASCII or longer than the limit', () => {
    const a = new AsciiName();
    for (const name of ['', 'a.example', 'h000001.bench.test', 'x'.repeat(MAX_ASCII_NAME)]) {
      expect(a.load(name)).toBe(name.length);
      expect(Buffer.from(a.bytes.subarray(0, name.length)).toString('latin1')).toBe(name);
      expect(a.hash).toBe(fnv(name));
    }
    for (const name of ['caf\u00e9.example', '\u4e2d\u6587.example', 'x'.repeat(MAX_ASCII_NAME + 1)]) expect(a.load(name)).toBe(-1);
  });

  it('reads a name again when another came between, and a new string with the same text gives the same bytes', () => {
    const a = new AsciiName();
    expect(a.load('a.example')).toBe(9);
    expect(a.load('bb.example')).toBe(10);
    expect(a.load(Buffer.from('a.example').toString('latin1'))).toBe(9);
    expect(Buffer.from(a.bytes.subarray(0, 9)).toString('latin1')).toBe('a.example');
    expect(a.hash).toBe(fnv('a.example'));
    expect(a.load('caf\u00e9.example')).toBe(-1);
    expect(a.load('caf\u00e9.example')).toBe(-1);
    expect(a.load('cafe.example')).toBe(12);
  });
});
