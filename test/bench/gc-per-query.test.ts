// bench/gc-per-query.mjs reads a --trace-gc-nvp log (here an excerpt captured from node 20: six
// scavenges and a mark-compact, two marker lines and a log line of another kind) and sums the main
// isolate's GCs of a window per type, and per query when told how many queries the window answered.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../bench/gc-per-query.mjs', import.meta.url));
const LOG = fileURLToPath(new URL('../fixtures/gc/trace-gc-nvp.txt', import.meta.url));

interface Sums {
  count: number;
  allocated: number;
  promoted: number;
  survived: number;
  pause: number;
  marking: number;
}
interface Summary {
  gcs: number;
  firstAt: number | null;
  lastAt: number | null;
  byType: Record<string, Sums>;
  total: Sums;
  queries?: number;
  perQuery?: { allocated: number; promoted: number; scavengesPer100k: number; pauseMsPer100k: number };
}

const run = (log: string, ...args: string[]): Summary => JSON.parse(execFileSync(process.execPath, [SCRIPT, log, ...args, '--json'], { encoding: 'utf8' })) as Summary;

describe('bench/gc-per-query.mjs', () => {
  it('without a window sums every GC line by type and ignores other lines', () => {
    const s = run(LOG);
    expect(s.gcs).toBe(7);
    expect([s.firstAt, s.lastAt]).toEqual([88, 675]);
    expect(s.byType.s).toMatchObject({ count: 6, allocated: 147_963_152 });
    expect(s.byType.mc).toMatchObject({ count: 1, allocated: 6_503_520, promoted: 3_490_032, survived: 0, pause: 10.4, marking: 8.9 });
    expect(s.total.allocated).toBe(147_963_152 + 6_503_520);
    expect(s.perQuery).toBeUndefined();
  });

  it('between two marker lines, gives bytes and scavenges per query', () => {
    const s = run(LOG, '--after', 'MARKER-A', '--before', 'MARKER-B', '--queries', '100000');
    expect(s.gcs).toBe(2);
    expect(s.byType.s).toMatchObject({ count: 2, allocated: 57_537_264, promoted: 1_843_392, survived: 3_235_128 });
    expect(s.byType.s!.pause).toBeCloseTo(13.9, 6);
    expect(s.perQuery!.allocated).toBeCloseTo(575.37264, 6);
    expect(s.perQuery!.promoted).toBeCloseTo(18.43392, 6);
    expect(s.perQuery!.scavengesPer100k).toBe(2);
  });

  it('between two times since start, takes the GCs after the first and up to the second', () => {
    const s = run(LOG, '--from', '100', '--to', '454');
    expect(s.gcs).toBe(3);
    expect(s.byType.s!.count).toBe(2);
    expect(s.byType.mc!.count).toBe(1);
    expect(s.total.allocated).toBe(21_601_672 + 6_503_520 + 41_791_424);
    expect(s.total.promoted).toBe(4_106_792 + 3_490_032 + 1_831_568);
  });

  it('counts a GC whose allocated= wrapped around (the heap shrank since the last) as nothing allocated', () => {
    const lines = readFileSync(LOG, 'utf8').split('\n');
    const last = lines.find((l) => l.includes(' 675 ms: '))!;
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-gc-'));
    const log = join(dir, 'wrapped.log');
    writeFileSync(log, last.replace(' 675 ms: ', ' 700 ms: ').replace(/ allocated=\d+ /, ' allocated=18446744073709547520 ') + '\n');
    expect(run(log).total).toMatchObject({ count: 1, allocated: 0 });
  });

  it("counts the main isolate's GCs only (the first in the log), a worker thread's with --isolate", () => {
    const lines = readFileSync(LOG, 'utf8').split('\n');
    const worker = lines.find((l) => l.includes(' 111 ms: '))!.replace(/^\[(\d+):0x[0-9a-f]+\]/, '[$1:0x7f716c000f00]');
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-gc-'));
    const log = join(dir, 'worker.log');
    writeFileSync(log, [...lines.slice(0, 4), worker, ...lines.slice(4)].join('\n'));
    expect(run(log).byType.s!.count).toBe(6);
    expect(run(log, '--isolate', 'all').byType.s!.count).toBe(7);
    expect(run(log, '--isolate', '0x7f716c000f00').total).toMatchObject({ count: 1, allocated: 21_601_672 });
  });

  it('prints a readable line per query and refuses an unknown option', () => {
    const text = execFileSync(process.execPath, [SCRIPT, LOG, '--after', 'MARKER-A', '--before', 'MARKER-B', '--queries', '100000'], { encoding: 'utf8' });
    expect(text).toContain('allocated_per_query=575 B promoted_per_query=18.4 B scavenges_per_100k=2.0');
    const bad = spawnSync(process.execPath, [SCRIPT, LOG, '--window', '3'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown option --window');
  });
});
