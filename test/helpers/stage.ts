// Unit-testing one stage: a Query built from real wire bytes, a stub `next` that records what
// reached it and answers as told (like CoreDNS's test.NextHandler), and policy tables built from
// short rule lists.
import { parseQuery } from '../../src/dns/query.js';
import { storeResponse, replay, type StoredAnswer } from '../../src/dns/relay.js';
import { makeRule, type EntryAction, type RuleMatch } from '../../src/blocklist/rule.js';
import { IpPrefixTable } from '../../src/blocklist/prefix-table.js';
import { DomainTrie } from '../../src/blocklist/trie.js';
import type { PolicyTables } from '../../src/policy/snapshot.js';
import { peerIdentity, type Answer, type Query, type Stage, type Transport } from '../../src/resolve/types.js';
import { buildQuery, Packet, type QueryOptions, type Rr } from './wire.js';

export function query(name: string, type: number, o: QueryOptions & { client?: string; transport?: Transport } = {}): Query {
  const msg = buildQuery(name, type, o);
  const client = o.client ?? '192.0.2.10';
  return { msg, pq: parseQuery(msg), clientAddress: client, clientPort: 40000, transport: o.transport ?? 'udp', receivedAt: performance.now(), decision: null, identity: peerIdentity(client), forwardOptions: null };
}

/** An upstream's answer to `q` with these records, indexed as the forward stage stores it. */
export function stored(q: Query, answers: Rr[], additionals: Rr[] = []): StoredAnswer {
  const p = new Packet();
  p.header.id = q.pq.id;
  p.header.qr = 1;
  p.header.rd = 1;
  p.header.ra = 1;
  p.questions.push(...Packet.parse(q.msg).questions);
  const fill = (r: Rr): InstanceType<typeof Packet.Resource> => new Packet.Resource({ class: 1, ttl: 300, ...r });
  p.answers.push(...answers.map(fill));
  p.additionals.push(...additionals.map(fill));
  const s = storeResponse(p.toBuffer(), q.pq.qEnd, performance.now());
  if (s === null) throw new Error('the test built a malformed answer');
  return s;
}

/** A `next` stage that answers every query with `answer(q)` and remembers the queries. */
export class StubNext implements Stage {
  readonly seen: Query[] = [];
  constructor(private readonly answer: (q: Query) => Answer) {}
  resolve(q: Query): Answer {
    this.seen.push(q);
    return this.answer(q);
  }
}

/** An upstream-style answer: the stored bytes replayed for this client, as the cache and forward stages return them. */
export function upstreamAnswer(s: StoredAnswer, action: 'allowed' | 'cached' = 'allowed'): (q: Query) => Answer {
  return (q) => ({ action, reply: replay(s, q.msg, q.pq, performance.now()), stored: s, upstream: action === 'allowed' ? '127.0.0.1:53' : null });
}

export interface RuleSpec {
  block?: string[];
  allow?: string[];
  /** CIDR → action (or null for the default): A/AAAA in answers. */
  responseIps?: Record<string, EntryAction | null>;
  allowIps?: string[];
  clientIps?: Record<string, EntryAction | null>;
  watch?: string[];
  list?: string;
  tags?: string[];
  action?: EntryAction | null;
}

/** Policy tables from short rule lists (subtree names, one list). */
export function tables(spec: RuleSpec): PolicyTables {
  const list = spec.list ?? 'test';
  const tags = spec.tags ?? ['c2'];
  const rule = (name: string, kind: 'block' | 'allow', action: EntryAction | null = spec.action ?? null): RuleMatch =>
    makeRule({ name, match: null, line: 1, kind }, { list, kind, match: 'subtree', action, tags, firstSeen: 0 });
  const names = new DomainTrie();
  for (const n of spec.block ?? []) names.add(rule(n, 'block'));
  for (const n of spec.allow ?? []) names.add(rule(n, 'allow'));
  const watch = new DomainTrie();
  for (const n of spec.watch ?? []) watch.add(rule(n, 'block'));
  const responseIps = new IpPrefixTable<RuleMatch>();
  for (const [cidr, action] of Object.entries(spec.responseIps ?? {})) responseIps.add(cidr, { ...rule(cidr, 'block', action), labels: 0 });
  for (const cidr of spec.allowIps ?? []) responseIps.add(cidr, { ...rule(cidr, 'allow'), labels: 0 });
  const clientIps = new IpPrefixTable<RuleMatch>();
  for (const [cidr, action] of Object.entries(spec.clientIps ?? {})) clientIps.add(cidr, { ...rule(cidr, 'block', action), labels: 0 });
  return { names, watch, responseIps, clientIps };
}
