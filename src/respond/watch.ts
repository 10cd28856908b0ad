// Watch-list hits: a query answered normally whose name is on a watch list (`action: monitor`)
// marks its client with the list's mark and raises one `watch-hit` event per (client, name)
// window, so a SOC finds every host still running a compromised app without breaking it.
// Quarantine of marked clients (`quarantine: true`) is the quarantine stage's observer.
import type { QueryEvent, QueryObserver } from '../observe/query-event.js';
import type { ClientMarks } from '../quarantine/marks.js';
import type { NewSecurityEvent } from './security-events.js';

export interface WatchOptions {
  /** Mark per watch list (lists without one mark as "watch:LIST"). */
  marks: ReadonlyMap<string, string>;
  windowMs: number;
  now?: () => number;
}

/** Open windows kept at most; the oldest is forgotten beyond that (its next hit raises again). */
const MAX_WINDOWS = 10_000;

export class WatchObserver implements QueryObserver {
  private readonly windows = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    private readonly store: ClientMarks,
    private readonly emit: (e: NewSecurityEvent) => void,
    private readonly opts: WatchOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  onQuery(e: QueryEvent): void {
    const d = e.decision;
    if (d === null || d.verdict !== 'monitor' || d.rule === null) return;
    const now = this.now();
    const list = d.rule.list;
    const mark = this.opts.marks.get(list) ?? `watch:${list}`;
    const newMark = this.store.add(e.client, mark, list, e.qname, now);
    const k = `${e.client} ${e.qname}`;
    const opened = this.windows.get(k);
    if (opened !== undefined && now - opened < this.opts.windowMs) return;
    this.windows.delete(k);
    if (this.windows.size >= MAX_WINDOWS) {
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
    this.windows.set(k, now);
    this.emit({
      type: 'watch-hit',
      severity: 'medium',
      client: e.client,
      qname: e.qname,
      list,
      rule: d.rule.rule,
      tags: [...d.tags],
      mark,
      newMark,
    });
  }
}
