// The observers' fan-out: every observer sees every query once, in list order, whether it sits in
// one of the fixed slots or was added past them or after start; one that throws is reported and
// the others still see the query; replace() swaps, removes and inserts as a reload needs.
import { describe, expect, it } from 'vitest';
import { ObserverFanOut } from '../../src/observe/fan-out.js';
import type { QueryEvent, QueryObserver } from '../../src/observe/query-event.js';
import { event } from './querylog-events.js';

/** An observer that writes its name into `seen` for each query. */
function named(name: string, seen: string[]): QueryObserver {
  return { onQuery: (e: QueryEvent) => void seen.push(`${name}:${e.qname}`) };
}

describe('observer fan-out', () => {
  it('calls every observer once per query in list order: the slots, those past them, and those pushed after start', () => {
    const seen: string[] = [];
    const list = Array.from({ length: 10 }, (_, i) => named(`o${i}`, seen));
    const fan = new ObserverFanOut(list, (err) => {
      throw err;
    });
    fan.onQuery(event(0, { qname: 'a.example' }));
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `o${i}:a.example`));
    seen.length = 0;
    fan.list.push(named('late', seen));
    fan.onQuery(event(0, { qname: 'b.example' }));
    expect(seen.at(-1)).toBe('late:b.example');
    expect(seen).toHaveLength(11);
  });

  it('with fewer observers than slots, calls those only; one pushed later is called once, before and after refresh()', () => {
    const seen: string[] = [];
    const fan = new ObserverFanOut([named('log', seen)], () => {});
    fan.list.push(named('metrics', seen));
    fan.onQuery(event(0, { qname: 'a.example' }));
    fan.refresh();
    fan.onQuery(event(0, { qname: 'b.example' }));
    expect(seen).toEqual(['log:a.example', 'metrics:a.example', 'log:b.example', 'metrics:b.example']);
  });

  it('reports an observer that throws and still calls the ones after it, in a slot and past the slots', () => {
    const seen: string[] = [];
    const errors: unknown[] = [];
    const broken: QueryObserver = {
      onQuery: () => {
        throw new Error('observer bug');
      },
    };
    const list = [named('a', seen), broken, ...Array.from({ length: 7 }, (_, i) => named(`b${i}`, seen)), broken, named('c', seen)];
    const fan = new ObserverFanOut(list, (err) => errors.push(err));
    fan.onQuery(event(0, { qname: 'x.example' }));
    expect(seen).toEqual(['a:x.example', ...Array.from({ length: 7 }, (_, i) => `b${i}:x.example`), 'c:x.example']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['observer bug', 'observer bug']);
  });

  it('replace(): swaps an observer in place, removes it, inserts a new one at the given place', () => {
    const seen: string[] = [];
    const log = named('log', seen);
    const old = named('old', seen);
    const events = named('events', seen);
    const fan = new ObserverFanOut([log, old, events], () => {});
    const next = named('new', seen);
    fan.replace(old, next, 1);
    fan.onQuery(event(0, { qname: 'a.example' }));
    fan.replace(next, null, 1);
    fan.onQuery(event(0, { qname: 'b.example' }));
    fan.replace(null, old, 1);
    fan.onQuery(event(0, { qname: 'c.example' }));
    expect(seen).toEqual(['log:a.example', 'new:a.example', 'events:a.example', 'log:b.example', 'events:b.example', 'log:c.example', 'old:c.example', 'events:c.example']);
    expect(fan.list).toEqual([log, old, events]);
  });
});
