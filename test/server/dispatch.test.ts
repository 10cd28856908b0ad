// The dispatcher hands each answered query's event to the observers in turn. It fills one event
// object anew per query (observers copy what they keep: observe/query-event.ts), so what each
// observer reads during its call must be that query's, also when an observer's own work has
// another query answered meanwhile.
import { describe, expect, it } from 'vitest';
import { errorReply } from '../../src/dns/synth.js';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { ownIdentity, type Answer, type ClientIdentity, type Query, type Stage } from '../../src/resolve/types.js';
import { Dispatcher } from '../../src/server/dispatch.js';
import { buildQuery, readName, T } from '../helpers/wire.js';

/** Answers every question with NOERROR and no records, at once (no upstream). */
const answerAll: Stage = {
  resolve: (q: Query): Answer => ({ action: 'allowed', reply: errorReply(q.msg, q.pq, 0), stored: null, upstream: null }),
};

interface Seen {
  qname: string;
  client: string;
  clientPort: number;
  qtype: number;
}
const seenOf = (e: QueryEvent): Seen => ({ qname: e.qname, client: e.client, clientPort: e.clientPort, qtype: e.qtype });

describe('Dispatcher: the event each observer is handed', () => {
  it('carries the fields of the query it reports, query after query', () => {
    const seen: Seen[] = [];
    const d = new Dispatcher(answerAll, [{ onQuery: (e) => seen.push(seenOf(e)) }], (err) => {
      throw err;
    });
    const replies: (Buffer | null)[] = [];
    d.handle(buildQuery('one.example', T.A), '192.0.2.1', 5001, 'udp', (r) => replies.push(r));
    d.handle(buildQuery('two.example', T.AAAA), '192.0.2.2', 5002, 'udp', (r) => replies.push(r));
    expect(seen).toEqual([
      { qname: 'one.example', client: '192.0.2.1', clientPort: 5001, qtype: T.A },
      { qname: 'two.example', client: '192.0.2.2', clientPort: 5002, qtype: T.AAAA },
    ]);
    expect(replies.map((r) => readName(r!, 12).name)).toEqual(['one.example', 'two.example']);
  });

  it('stays the outer query for the observers after one whose call answered another query', () => {
    const first: Seen[] = [];
    const second: Seen[] = [];
    let d: Dispatcher | null = null;
    const asking = {
      onQuery: (e: QueryEvent): void => {
        first.push(seenOf(e));
        // As if this observer's work had a query answered synchronously (e.g. a probe of its own).
        if (e.qname === 'outer.example') d!.handle(buildQuery('inner.example', T.TXT), '198.51.100.9', 53, 'tcp', () => {});
      },
    };
    d = new Dispatcher(answerAll, [asking, { onQuery: (e) => second.push(seenOf(e)) }], (err) => {
      throw err;
    });
    d.handle(buildQuery('outer.example', T.A), '192.0.2.1', 5001, 'udp', () => {});
    expect(first.map((s) => s.qname)).toEqual(['outer.example', 'inner.example']);
    // The inner query reached the second observer first (during the first observer's call); then the outer one, intact.
    expect(second).toEqual([
      { qname: 'inner.example', client: '198.51.100.9', clientPort: 53, qtype: T.TXT },
      { qname: 'outer.example', client: '192.0.2.1', clientPort: 5001, qtype: T.A },
    ]);
  });
});

describe("Dispatcher: a query's client identity", () => {
  it('what a stage learns about one query of a peer stays with that query, not the peer\'s next', () => {
    const seen: ClientIdentity[] = [];
    const naming: Stage = {
      resolve: (q: Query): Answer => {
        if (q.pq.name === 'named.example') ownIdentity(q).name = 'laptop';
        seen.push({ ...q.identity });
        return answerAll.resolve(q) as Answer;
      },
    };
    const d = new Dispatcher(naming, [], (err) => {
      throw err;
    });
    for (const name of ['plain.example', 'named.example', 'plain.example']) d.handle(buildQuery(name, T.A), '192.0.2.1', 5001, 'udp', () => {});
    expect(seen.map((id) => id.name)).toEqual([null, 'laptop', null]);
    expect(seen.every((id) => id.address === '192.0.2.1' && id.group === 'default')).toBe(true);
  });

  it('cannot be changed in place (it may be shared): a stage that tries fails the query, not the next ones', () => {
    const errors: unknown[] = [];
    const replies: (Buffer | null)[] = [];
    const careless: Stage = {
      resolve: (q: Query): Answer => {
        if (q.pq.name === 'careless.example') (q.identity as ClientIdentity).group = 'kids';
        return answerAll.resolve(q) as Answer;
      },
    };
    const groups: string[] = [];
    const d = new Dispatcher(careless, [{ onQuery: (e) => groups.push(e.group ?? 'default') }], (err) => errors.push(err));
    for (const name of ['careless.example', 'next.example']) d.handle(buildQuery(name, T.A), '192.0.2.1', 5001, 'udp', (r) => replies.push(r));
    expect(errors).toHaveLength(1);
    expect(replies.map((r) => r![3]! & 0x0f)).toEqual([2, 0]); // SERVFAIL, then NOERROR
    expect(groups).toEqual(['default', 'default']);
  });
});
