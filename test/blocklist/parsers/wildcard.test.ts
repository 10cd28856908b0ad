// Wildcard lists (`*.example.com`): FORMATS.md §3, ADVERSARIAL_INPUTS.md C1–C3, D1–D4.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ListEntry } from '../../../src/blocklist/rule.js';
import { ParseReport } from '../../../src/blocklist/parsers/report.js';
import { parseWildcard } from '../../../src/blocklist/parsers/wildcard.js';

const parse = (text: string) => {
  const report = new ParseReport();
  const entries = parseWildcard(text, report, { now: 0 });
  return { entries, report };
};

describe('wildcard lines', () => {
  const cases: [string, string, Omit<ListEntry, 'line'> | RegExp][] = [
    ['D1', '*.example.com', { name: 'example.com', match: 'below' }],
    ['bare name', 'example.com', { name: 'example.com', match: null }],
    ['C1/C2', '*.Example.COM.', { name: 'example.com', match: 'below' }],
    ['C2', 'msstorageazure.com.', { name: 'msstorageazure.com', match: null }],
    ['D3', '*', /bare wildcard/],
    ['D3', '*.', /bare wildcard/],
    ['D3', '*.*', /bare wildcard/],
    ['D4', '*.com', /whole top-level domain/],
    ['D4', '*.com.', /whole top-level domain/],
    ['D2', 'a.*.example.com', /whole leftmost label/],
    ['D2', '*example.com', /whole leftmost label/],
    ['D2', '*.*.example.com', /whole leftmost label/],
    ['D2', 'cdn.us*.exponea.com', /whole leftmost label/],
    ['C3', 'msstorageazure..com', /empty label/],
    ['C3', '.msstorageazure.com', /empty label/],
    ['C3', '*..example.com', /empty label/],
    ['C14', '*.23.254.211.230', /IP address/],
    ['fields', '*.a.com b.com', /more than one field/],
  ];
  for (const [row, input, want] of cases) {
    it(`${row}: ${input}`, () => {
      const { entries, report } = parse(input);
      if (want instanceof RegExp) {
        expect(entries).toEqual([]);
        expect(report.rejected).toBe(1);
        expect(report.examples[0]!.reason).toMatch(want);
      } else {
        expect(entries).toEqual([{ ...want, line: 1 }]);
        expect(report.rejected).toBe(0);
      }
    });
  }
});

describe('wildcard framing', () => {
  it('handles BOM, CRLF, lone CR, comments and a missing final newline, keeping line numbers', () => {
    const { entries, report } = parse('\ufeff# list\r\n*.a.com\r\nb.com # inline\rc.com\n\n*.d.org');
    expect(entries).toEqual([
      { name: 'a.com', match: 'below', line: 2 },
      { name: 'b.com', match: null, line: 3 },
      { name: 'c.com', match: null, line: 4 },
      { name: 'd.org', match: 'below', line: 6 },
    ]);
    expect(report.accepted).toBe(4);
    expect(report.rejected).toBe(0);
  });

  it('reads the tricky fixture: good lines kept, each bad line rejected with its number', () => {
    const text = readFileSync(new URL('../../fixtures/feeds/wildcard-tricky.txt', import.meta.url), 'utf8');
    const { entries, report } = parse(text);
    expect(entries).toEqual([
      { name: 'msstorageazure.com', match: 'below', line: 2 },
      { name: 'msstorageazure.com', match: null, line: 3 },
      { name: 'office-storeagent.com', match: 'below', line: 4 },
      { name: 'akamaicontainer.com', match: null, line: 5 },
    ]);
    expect(report.examples.map((e) => e.line)).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    expect(report.rejected).toBe(8);
  });
});
