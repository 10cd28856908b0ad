// The query log file: one JSON line per query, exactly the text line() gives, in order, whatever the
// lines' sizes (they are written straight into chunks handed to the file: lines cross chunk ends,
// and a line longer than a chunk still arrives whole).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RuleMatch } from '../../src/blocklist/rule.js';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { QueryLog } from '../../src/observe/querylog.js';
import { ruleDecision } from '../../src/policy/decision.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rule: RuleMatch = { kind: 'block', list: '3cx', rule: 'msstorageazure.com', match: 'subtree', line: 7, action: null, important: false, labels: 2, ref: null, tags: ['c2', '3cx'], expiresAt: 0, firstSeen: 0 };

function event(i: number, over: Partial<QueryEvent> = {}): QueryEvent {
  const qname = i % 3 === 0 ? `cdn${i}.msstorageazure.com` : `h${i}.example.org`;
  return {
    time: 1_764_000_000_000 + i,
    client: `192.0.2.${i % 250}`,
    clientPort: 40_000 + i,
    via: null,
    mac: null,
    clientName: null,
    group: 'default',
    transport: 'udp',
    qname,
    qtype: 1,
    action: i % 3 === 0 ? 'blocked' : 'allowed',
    decision: i % 3 === 0 ? ruleDecision(rule, 'qname', [qname]) : null,
    rcode: 0,
    latencyMs: (i % 977) / 7,
    upstream: i % 3 === 0 ? null : '192.0.2.53:53',
    truncated: false,
    reply: null,
    ...over,
  };
}

async function fileLines(path: string, count: number): Promise<string[]> {
  for (let waited = 0; ; waited += 20) {
    let text = '';
    try {
      text = readFileSync(path, 'latin1');
    } catch {
      // not created yet
    }
    const lines = text.split('\n').slice(0, -1);
    if (lines.length >= count || waited > 5000) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('query log file', () => {
  it('holds every line as line() renders it, in order, across chunk ends and for a line longer than a chunk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-qlog-'));
    dirs.push(dir);
    const path = join(dir, 'query.log');
    const log = new QueryLog('all', path);
    const events: QueryEvent[] = [];
    for (let i = 0; i < 3000; i++) events.push(event(i));
    // 300,000 bytes of client name: longer than a whole chunk; then identities that are not the plain one.
    events.splice(1500, 0, event(1500, { clientName: 'n'.repeat(300_000) }), event(1501, { via: '10.0.0.1', mac: 'aa:bb:cc:dd:ee:ff', group: 'kids', transport: 'dot' }));
    events.push(event(3001, { clientName: 'quote " and \\ and \u0001' }));
    for (const e of events) log.onQuery(e);
    log.flush();
    const lines = await fileLines(path, events.length);
    expect(lines).toHaveLength(events.length);
    for (let i = 0; i < events.length; i++) expect(`${lines[i]}\n`).toBe(log.line(events[i]!));
    expect(JSON.parse(lines[1500]!).clientName).toHaveLength(300_000);
    expect(JSON.parse(lines.at(-1)!).clientName).toBe('quote " and \\ and \u0001');
    expect(JSON.parse(lines[0]!)).toMatchObject({ qname: 'cdn0.msstorageazure.com', action: 'blocked', list: '3cx', rule: 'msstorageazure.com', ruleKind: 'block', decidedBy: 'list', trigger: 'qname', chain: ['cdn0.msstorageazure.com'], reason: 'list=3cx rule=msstorageazure.com', tags: ['c2', '3cx'], latencyMs: 0 });
    expect(JSON.parse(lines[1]!)).toMatchObject({ qname: 'h1.example.org', list: null, decidedBy: null, chain: null, tags: [], latencyMs: 0.143, upstream: '192.0.2.53:53' });
  });

  it('renders the latency as Math.round(ms * 1000) / 1000 prints', () => {
    const log = new QueryLog('none', 'stdout');
    for (const ms of [0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 0.1234, 1, 1.5, 12.345678, 999.9995, 1234.56, 5e9]) {
      expect(JSON.parse(log.line(event(1, { latencyMs: ms }))).latencyMs).toBe(Math.round(ms * 1000) / 1000);
      expect(log.line(event(1, { latencyMs: ms }))).toContain(`"latencyMs":${Math.round(ms * 1000) / 1000},`);
    }
  });
});
