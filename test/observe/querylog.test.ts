// The query log file: one JSON line per query, exactly the text line() gives, in order, whatever the
// lines' sizes (they are written straight into chunks handed to the file: lines cross chunk ends,
// and a line longer than a chunk still arrives whole).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RuleMatch } from '../../src/blocklist/rule.js';
import { event, rule } from './querylog-events.js';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { QueryLog } from '../../src/observe/querylog.js';
import { reasonText, ruleDecision, type Decision } from '../../src/policy/decision.js';
import { rcodeName, typeName } from '../../src/dns/constants.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

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
    // A rule longer than a chunk: the reason repeats its text (copied within the line) across a chunk end.
    const long = { ...rule, rule: `${'r'.repeat(300_000)}.example` };
    const longName = `x.${long.rule}`;
    events.splice(1600, 0, event(1600, { decision: ruleDecision(long, 'qname', [longName]), qname: longName }));
    events.push(event(3001, { clientName: 'quote " and \\ and \u0001' }));
    for (const e of events) log.onQuery(e);
    log.flush();
    const lines = await fileLines(path, events.length);
    expect(lines).toHaveLength(events.length);
    for (let i = 0; i < events.length; i++) expect(`${lines[i]}\n`).toBe(log.line(events[i]!));
    expect(JSON.parse(lines[1500]!).clientName).toHaveLength(300_000);
    expect(JSON.parse(lines.at(-1)!).clientName).toBe('quote " and \\ and \u0001');
    expect(JSON.parse(lines[1600]!)).toMatchObject({ rule: long.rule, reason: `list=3cx rule=${long.rule}`, chain: [longName] });
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

describe('query log bytes', () => {
  // Written out in full: a cached and a blocked line as they are in the file, byte for byte (SOC
  // parsers read this text; the writer's shortcuts must not move one byte). The second's first
  // client (127.0.0.1) and another client in the same second take different paths in the writer.
  const plain = { via: null, mac: null, clientName: null, group: undefined, transport: 'udp', qtype: 1, truncated: false, reply: null, upstream: null, rcode: 0 } as const;
  const c2: RuleMatch = { ...rule, list: 'bench', rule: 'zacharryblogs.com', tags: ['c2'] };
  const cached: QueryEvent = { ...plain, time: 1_764_000_000_042, client: '127.0.0.1', clientPort: 53124, qname: 'h076547.bench.test', action: 'cached', decision: null, latencyMs: 0.0214 };
  const blocked: QueryEvent = { ...plain, time: 1_764_000_000_917, client: '10.1.2.3', clientPort: 9, qname: 'www.zacharryblogs.com', action: 'blocked', decision: ruleDecision(c2, 'qname', ['www.zacharryblogs.com']), latencyMs: 1.5 };
  it('is exactly this text for a cached answer, a blocked one from another client, and the first client again', () => {
    const log = new QueryLog('none', 'stdout');
    expect(log.line(cached)).toBe(
      '{"level":30,"time":"2025-11-24T16:00:00.042Z","client":"127.0.0.1","clientPort":53124,"via":null,"mac":null,"clientName":null,"group":"default","transport":"udp","qname":"h076547.bench.test","qtype":"A","action":"cached","list":null,"rule":null,"ruleKind":null,"decidedBy":null,"trigger":null,"chain":null,"reason":null,"tags":[],"rcode":"NOERROR","latencyMs":0.021,"upstream":null,"truncated":false,"msg":"query"}\n',
    );
    expect(log.line(blocked)).toBe(
      '{"level":30,"time":"2025-11-24T16:00:00.917Z","client":"10.1.2.3","clientPort":9,"via":null,"mac":null,"clientName":null,"group":"default","transport":"udp","qname":"www.zacharryblogs.com","qtype":"A","action":"blocked","list":"bench","rule":"zacharryblogs.com","ruleKind":"block","decidedBy":"list","trigger":"qname","chain":["www.zacharryblogs.com"],"reason":"list=bench rule=zacharryblogs.com","tags":["c2"],"rcode":"NOERROR","latencyMs":1.5,"upstream":null,"truncated":false,"msg":"query"}\n',
    );
    expect(log.line({ ...cached, time: 1_764_000_000_999, latencyMs: 12 })).toBe(
      '{"level":30,"time":"2025-11-24T16:00:00.999Z","client":"127.0.0.1","clientPort":53124,"via":null,"mac":null,"clientName":null,"group":"default","transport":"udp","qname":"h076547.bench.test","qtype":"A","action":"cached","list":null,"rule":null,"ruleKind":null,"decidedBy":null,"trigger":null,"chain":null,"reason":null,"tags":[],"rcode":"NOERROR","latencyMs":12,"upstream":null,"truncated":false,"msg":"query"}\n',
    );
  });
  it('writes the client as the documented JSON whichever client came first in the second, escaped or not', () => {
    const log = new QueryLog('none', 'stdout');
    const clients = ['fe80::1%eth0', '127.0.0.1', 'odd"client\\', '127.0.0.1', 'fe80::1%eth0'];
    clients.forEach((client, i) => {
      const e = event(i, { client, time: 1_764_000_000_000 + i * 400 }); // a new second every 2-3 lines
      expect(log.line(e)).toBe(reference(e));
    });
  });
});

/** The documented line (README "Query log"), built the slow, obvious way: what the fast writer must give byte for byte. */
function reference(e: QueryEvent): string {
  const d: Decision | null = e.decision;
  const m = d?.rule ?? null;
  return `${JSON.stringify({
    level: 30,
    time: new Date(e.time).toISOString(),
    client: e.client,
    clientPort: e.clientPort,
    via: e.via,
    mac: e.mac,
    clientName: e.clientName,
    group: e.group ?? 'default',
    transport: e.transport,
    qname: e.qname,
    qtype: typeName(e.qtype),
    action: e.action,
    list: m?.list ?? null,
    rule: m?.rule ?? null,
    ruleKind: m?.kind ?? null,
    decidedBy: d?.by ?? null,
    trigger: d?.trigger ?? null,
    chain: d?.chain ?? null,
    reason: d === null ? null : reasonText(d),
    tags: d?.tags ?? [],
    rcode: e.rcode < 0 ? null : rcodeName(e.rcode),
    latencyMs: Math.round(e.latencyMs * 1000) / 1000,
    upstream: e.upstream,
    truncated: e.truncated,
    msg: 'query',
  })}\n`;
}

describe('query log line', () => {
  const odd: RuleMatch = { ...rule, list: 'list "with" \\ quotes', rule: 'tab\there.example', tags: ['c2', 'q"t'] };
  const allow: RuleMatch = { ...rule, kind: 'allow', list: 'allowed', tags: [] };
  const decisions: [string, Decision | null][] = [
    ['no decision', null],
    ['a qname rule', ruleDecision(rule, 'qname', ['cdn.msstorageazure.com'])],
    ['the same rule seen by a watch list', ruleDecision(rule, 'qname', ['cdn.msstorageazure.com'], true)],
    ['the same rule again, as a list', ruleDecision(rule, 'qname', ['x.msstorageazure.com'])],
    ['a rule whose names need escaping', ruleDecision(odd, 'qname', ['a.tab\there.example'])],
    ['an allow rule', ruleDecision(allow, 'qname', ['ok.example'])],
    ['a CNAME chain', ruleDecision(rule, 'cname', ['innocent.example', 'cdn.msstorageazure.com'])],
    ['a client rule', ruleDecision(rule, 'client-ip', ['10.0.0.5'])],
    ['quarantine (no rule)', { by: 'quarantine', verdict: 'block', trigger: 'client-ip', rule: null, chain: ['10.0.0.5'], note: 'quarantined since 2026-12-01', tags: ['quarantine'] }],
    ['decision tags beyond the rule', { ...ruleDecision(rule, 'qname', ['cdn.msstorageazure.com']), tags: ['c2', '3cx', 'extra'] }],
  ];
  it.each(decisions)('is the documented JSON for %s, every time the rule comes back', (_what, decision) => {
    const log = new QueryLog('none', 'stdout');
    for (let i = 0; i < 3; i++) {
      const e = event(i + 3, { decision, action: decision === null ? 'allowed' : 'blocked', rcode: i === 2 ? -1 : 3, truncated: i === 1 });
      expect(log.line(e)).toBe(reference(e));
    }
  });
  it('has toISOString()\'s time for any time: the next millisecond, the next second, back in time, a fraction, year 10000', () => {
    const log = new QueryLog('none', 'stdout');
    for (const time of [1_764_000_000_999, 1_764_000_001_000, 1_764_000_000_000, -1, 1_764_000_000_000.25, 253_402_300_800_000, 1_764_000_000_007]) {
      const e = event(6, { time });
      expect(log.line(e)).toBe(reference(e));
    }
  });
  it('is the documented JSON when the chain is the question name itself, escaped or not', () => {
    const log = new QueryLog('none', 'stdout');
    for (const [qname, m] of [['cdn.msstorageazure.com', rule], ['a.tab\there.example', odd], ['q"uote\\.example', odd]] as const) {
      const e = event(9, { qname, decision: ruleDecision(m, 'qname', [qname]), action: 'blocked' });
      expect(log.line(e)).toBe(reference(e));
    }
  });
  it('is the documented JSON when lists, tags, kinds and triggers change from line to line and come back', () => {
    const log = new QueryLog('none', 'stdout');
    const other: RuleMatch = { ...rule, list: 'other "list"', tags: ['phishing'] };
    const ownTags: RuleMatch = { ...rule, tags: ['c2', 'own'] }; // a rule with tags of its own: same list, another array
    const sequence = [rule, rule, other, rule, ownTags, ownTags, ownTags, rule, allow, allow, other, other];
    sequence.forEach((m, i) => {
      const qname = `n${i}.${m.rule}`;
      const trigger = i % 5 === 4 ? 'cname' : 'qname';
      const d = ruleDecision(m, trigger, trigger === 'qname' ? [qname] : ['innocent.example', qname], i === 9);
      // Each line twice (a run of one list), and now and then one whose decision has other tags.
      const es = [event(i, { qname, decision: d, action: 'blocked' }), event(i + 1, { qname, decision: d, action: 'blocked' })];
      if (i % 4 === 3) es.push(event(i, { qname, decision: { ...d, tags: [] }, action: 'blocked' }));
      for (const e of es) expect(log.line(e)).toBe(reference(e));
    });
  });
  it('writes the client port as String() does, 0 and 65535 included', () => {
    const log = new QueryLog('none', 'stdout');
    for (const clientPort of [0, 1, 9, 10, 99, 100, 53, 4242, 65535]) {
      const e = event(4, { clientPort });
      expect(log.line(e)).toBe(reference(e));
    }
  });
  it('is the documented JSON for every identity, transport and type', () => {
    const log = new QueryLog('none', 'stdout');
    const over: Partial<QueryEvent>[] = [{}, { via: '10.0.0.1' }, { mac: 'aa:bb:cc:dd:ee:ff' }, { clientName: 'kids-tablet' }, { group: 'kids' }, { group: undefined }, { transport: 'tcp' }, { transport: 'dot' }, { transport: 'doh' }, { qtype: 28 }, { qtype: 65 }, { qtype: 4242 }, { upstream: null }];
    for (const o of over) {
      const e = event(6, o);
      expect(log.line(e)).toBe(reference(e));
    }
  });
});
