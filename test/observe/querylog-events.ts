// The query events the query log's tests log: a third blocked by a qname rule, the rest answered upstream.
import type { RuleMatch } from '../../src/blocklist/rule.js';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { ruleDecision } from '../../src/policy/decision.js';

export const rule: RuleMatch = { kind: 'block', list: '3cx', rule: 'msstorageazure.com', match: 'subtree', line: 7, action: null, important: false, labels: 2, ref: null, tags: ['c2', '3cx'], expiresAt: 0, firstSeen: 0 };

export function event(i: number, over: Partial<QueryEvent> = {}): QueryEvent {
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

