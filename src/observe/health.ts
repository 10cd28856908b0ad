// Operational health: promises c2dns made at start-up that a later failure breaks (the query log
// is written, the query history is recorded, alerts are spooled to disk). A component that fails
// reports it here; the problem is logged once as an error when it starts and once when it ends,
// and until then /readyz is not ready and names it. A problem ends when its component says so, or
// when the component's own recovery check (asked at every read) says it works again.
import type { OpLogger } from './oplog.js';

interface Problem {
  message: string;
  since: number;
  recovered: (() => boolean) | undefined;
}

export class OperationalHealth {
  private readonly open = new Map<string, Problem>();

  constructor(
    private readonly log: OpLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * `component` no longer keeps its promise. Logged when the problem starts (not on every
   * repetition). `recovered`, if given, is asked at each read: true ends the problem.
   */
  fail(component: string, message: string, err?: unknown, recovered?: () => boolean): void {
    const known = this.open.get(component);
    this.open.set(component, { message, since: known?.since ?? this.now(), recovered });
    if (known === undefined) this.log.error({ component, problem: message, ...(err !== undefined ? { err } : {}) }, 'operational problem: not ready until it is resolved');
  }

  /** `component` works again. */
  ok(component: string): void {
    const p = this.open.get(component);
    if (p === undefined) return;
    this.open.delete(component);
    this.log.warn({ component, since: new Date(p.since).toISOString() }, 'operational problem resolved');
  }

  /** One line per open problem, for /readyz: "COMPONENT: MESSAGE (since ISO-TIME)". */
  problems(): string[] {
    for (const [component, p] of [...this.open]) {
      let back = false;
      try {
        back = p.recovered?.() === true;
      } catch {
        back = false;
      }
      if (back) this.ok(component);
    }
    return [...this.open].map(([component, p]) => `${component}: ${p.message} (since ${new Date(p.since).toISOString()})`);
  }
}
