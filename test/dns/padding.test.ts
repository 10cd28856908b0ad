// EDNS(0) Padding (RFC 7830) with RFC 8467's block-length policy, on messages built byte by byte
// and read back with the test-side parser: the padded length, the option's zero octets, the other
// options kept, the limits.
import { describe, expect, it } from 'vitest';
import { hasPaddingOption, padMessage, QUERY_PADDING_BLOCK, RESPONSE_PADDING_BLOCK } from '../../src/dns/padding.js';
import { option, queryWith } from '../helpers/edns-options.js';
import { ednsOptions, paddingOf } from '../helpers/padding.js';
import { buildQuery, decode, T } from '../helpers/wire.js';

describe('padMessage', () => {
  it('pads a query to a multiple of 128 octets with a Padding option of zeros, the question intact', () => {
    const q = buildQuery('example.org', T.A, { id: 7, edns: {} });
    const p = padMessage(q, QUERY_PADDING_BLOCK);
    expect(p.length).toBe(128);
    const pad = paddingOf(p)!;
    expect(pad.length).toBe(128 - q.length - 4);
    expect(pad.every((b) => b === 0)).toBe(true);
    expect(decode(p).questions[0]).toMatchObject({ name: 'example.org', type: T.A });
    expect(p.readUInt16BE(0)).toBe(7);
    expect(q.length).toBeLessThan(128); // the input is not modified
    expect(paddingOf(q)).toBeNull();
  });

  it('pads a response to the next multiple of 468, keeping its other options before the padding', () => {
    const cookie = option(10, Buffer.alloc(24, 0xab));
    const m = queryWith('a-rather-long-name.example.org', T.AAAA, [cookie]);
    const p = padMessage(m, RESPONSE_PADDING_BLOCK);
    expect(p.length % RESPONSE_PADDING_BLOCK).toBe(0);
    expect(ednsOptions(p)!.map((o) => o.code)).toEqual([10, 12]);
    expect(ednsOptions(p)![0]!.data).toEqual(Buffer.alloc(24, 0xab));
  });

  it('replaces a Padding option already there (padding twice gives the same message)', () => {
    const q = queryWith('example.org', T.A, [option(12, Buffer.alloc(300))]);
    const p = padMessage(q, QUERY_PADDING_BLOCK);
    expect(p.length).toBe(128);
    expect(ednsOptions(p)!.filter((o) => o.code === 12)).toHaveLength(1);
    expect(padMessage(p, QUERY_PADDING_BLOCK)).toEqual(p);
  });

  it('a message that is already a multiple still carries the option (of the length that keeps it one)', () => {
    const q = buildQuery('example.org', T.A, { edns: {} });
    const once = padMessage(q, QUERY_PADDING_BLOCK);
    const exact = padMessage(once, 128 * 2);
    expect(exact.length).toBe(256);
    expect(paddingOf(exact)!.length).toBe(256 - q.length - 4);
  });

  it('without an OPT record the message is left as it is (padding is an EDNS option)', () => {
    const q = buildQuery('example.org', T.A);
    expect(padMessage(q, QUERY_PADDING_BLOCK)).toBe(q);
  });

  it('never beyond max: padded up to it when the next multiple does not fit, unchanged when not even the option fits', () => {
    const q = buildQuery('example.org', T.A, { edns: {} });
    expect(padMessage(q, 468, 100).length).toBe(100);
    expect(padMessage(q, 468, q.length + 3)).toBe(q);
  });
});

describe('hasPaddingOption', () => {
  it('finds the option among others, and not where there is none', () => {
    expect(hasPaddingOption(queryWith('example.org', T.A, [option(10, Buffer.alloc(8)), option(12, Buffer.alloc(0))]))).toBe(true);
    expect(hasPaddingOption(queryWith('example.org', T.A, [option(10, Buffer.alloc(8))]))).toBe(false);
    expect(hasPaddingOption(buildQuery('example.org', T.A, { edns: {} }))).toBe(false);
    expect(hasPaddingOption(buildQuery('example.org', T.A))).toBe(false);
    expect(hasPaddingOption(Buffer.alloc(5))).toBe(false);
  });
});
