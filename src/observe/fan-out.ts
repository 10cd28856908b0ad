// The answered query's observers, called in order from one object: the dispatcher's observer loop
// called the query log, events, history, metrics and the console at one call site, which saw seven
// or eight classes (megamorphic: a lookup in V8's stub cache per call). Here each of the first
// SLOTS observers has a call site of its own that sees one class (monomorphic, small ones
// inlined); observers pushed onto the list later (tests, embedders) are called after them.
import type { QueryEvent, QueryObserver } from './query-event.js';

const SLOTS = 8;

/** Stands in for an empty slot: one class at each unused site, nothing done. */
class NoObserver implements QueryObserver {
  onQuery(): void {}
}
const NONE = new NoObserver();

export class ObserverFanOut implements QueryObserver {
  /** The observers in the order they see each query; push() adds one at the end. */
  readonly list: QueryObserver[];
  private o0: QueryObserver = NONE;
  private o1: QueryObserver = NONE;
  private o2: QueryObserver = NONE;
  private o3: QueryObserver = NONE;
  private o4: QueryObserver = NONE;
  private o5: QueryObserver = NONE;
  private o6: QueryObserver = NONE;
  private o7: QueryObserver = NONE;
  /** How many of `list`'s first observers are in the slots: the rest are called in a loop. */
  private slotted = 0;

  /** `onError`: an observer threw (a bug; the next observers still see the query). */
  constructor(
    list: QueryObserver[],
    private readonly onError: (err: unknown) => void,
  ) {
    this.list = list;
    this.refresh();
  }

  /** Puts `next` in `old`'s place; null removes, an `old` not listed inserts `next` at `at`. */
  replace(old: QueryObserver | null, next: QueryObserver | null, at: number): void {
    const l = this.list;
    const i = old === null ? -1 : l.indexOf(old);
    if (next === null) {
      if (i >= 0) l.splice(i, 1);
    } else if (i >= 0) l[i] = next;
    else l.splice(Math.min(at, l.length), 0, next);
    this.refresh();
  }

  /** Fills the slots from the list again (after observers were added: those start being called from their slots). */
  refresh(): void {
    const l = this.list;
    this.o0 = l[0] ?? NONE;
    this.o1 = l[1] ?? NONE;
    this.o2 = l[2] ?? NONE;
    this.o3 = l[3] ?? NONE;
    this.o4 = l[4] ?? NONE;
    this.o5 = l[5] ?? NONE;
    this.o6 = l[6] ?? NONE;
    this.o7 = l[7] ?? NONE;
    this.slotted = Math.min(l.length, SLOTS);
  }

  onQuery(e: QueryEvent): void {
    // One try per call, as the dispatcher had: an observer that throws costs the others nothing.
    try {
      this.o0.onQuery(e);
    } catch (err) {
      this.onError(err);
    }
    try {
      this.o1.onQuery(e);
    } catch (err) {
      this.onError(err);
    }
    try {
      this.o2.onQuery(e);
    } catch (err) {
      this.onError(err);
    }
    try {
      this.o3.onQuery(e);
    } catch (err) {
      this.onError(err);
    }
    try {
      this.o4.onQuery(e);
    } catch (err) {
      this.onError(err);
    }
    try {
      this.o5.onQuery(e);
    } catch (err) {
      this.onError(err);
    }
    try {
      this.o6.onQuery(e);
    } catch (err) {
      this.onError(err);
    }
    try {
      this.o7.onQuery(e);
    } catch (err) {
      this.onError(err);
    }
    const l = this.list;
    for (let i = this.slotted; i < l.length; i++) {
      try {
        l[i]!.onQuery(e);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
