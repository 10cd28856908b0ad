// Shared by the respond tests: query events as the dispatcher builds them, a controllable clock,
// a recording logger, and an in-memory sink that can be told to fail.
import { makeRule, type RuleMatch } from '../../src/blocklist/rule.js';
import type { QueryEvent } from '../../src/observe/query-event.js';
import type { Action } from '../../src/resolve/types.js';
import type { SecurityEvent } from '../../src/respond/security-events.js';
import type { AlertLog, AlertSink } from '../../src/respond/sinks/types.js';
import { ruleDecision } from '../../src/policy/decision.js';

export function rule(name: string, tags: string[] = ['c2'], list = 'intel', extra: { ref?: string; line?: number } = {}): RuleMatch {
  return makeRule({ name, match: null, line: extra.line ?? 1, ...(extra.ref !== undefined ? { ref: extra.ref } : {}) }, { list, kind: 'block', match: 'subtree', action: null, tags, firstSeen: 0 });
}

export function query(client: string, qname: string, rule: RuleMatch | null, action: Action = 'blocked', qtype = 1): QueryEvent {
  const decision = rule === null ? null : ruleDecision(rule, 'qname', [qname]);
  return { time: 0, client, clientPort: 40000, via: null, mac: null, clientName: null, transport: 'udp', qname, qtype, action, decision, rcode: 0, latencyMs: 0.1, upstream: null, truncated: false, reply: null };
}

export class Clock {
  constructor(public t = Date.parse('2026-03-01T12:00:00Z')) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string;
}

export function recordingLog(): AlertLog & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
}

/** Records what it is sent; fails while `failing` is set (or for the next `failNext` attempts). */
export class MemorySink implements AlertSink {
  readonly type = 'memory';
  received: SecurityEvent[] = [];
  attempts = 0;
  failing = false;
  failNext = 0;
  constructor(readonly name = 'memory') {}
  async send(e: SecurityEvent): Promise<void> {
    this.attempts++;
    if (this.failing || this.failNext > 0) {
      if (this.failNext > 0) this.failNext--;
      throw new Error('receiver down');
    }
    this.received.push(e);
  }
  async close(): Promise<void> {}
}

export async function waitFor(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
