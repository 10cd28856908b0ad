// Cluster mode (`workers: N`): a spool directory must have one writer and a (client, rule)
// window must see every hit, whichever worker answered it. So exactly one process owns alerting
// (createAlerting: aggregation, stale-feed checks, spools); every other worker runs an
// AlertForwarder in its place, which applies the same cheap filter and sends each C2 hit (and
// any emit()) over the cluster IPC channel; the owner feeds them to its SecurityEvents.
import type { QueryEvent, QueryObserver } from '../observe/query-event.js';
import { c2HitOf, type C2HitInput, type NewSecurityEvent, type SecurityEvents } from './security-events.js';

export const ALERT_MESSAGE = 'c2dns-alert';

export type AlertMessage = { type: typeof ALERT_MESSAGE; hit: C2HitInput } | { type: typeof ALERT_MESSAGE; event: NewSecurityEvent };

export function isAlertMessage(m: unknown): m is AlertMessage {
  if (m === null || typeof m !== 'object') return false;
  const o = m as { type?: unknown; hit?: unknown; event?: unknown };
  return o.type === ALERT_MESSAGE && ((o.hit !== null && typeof o.hit === 'object') || (o.event !== null && typeof o.event === 'object'));
}

/** Owner side: applies a message a worker forwarded. Malformed ones are ignored (returns false). */
export function receiveAlert(events: SecurityEvents, m: unknown): boolean {
  if (!isAlertMessage(m)) return false;
  if ('hit' in m) {
    const h = m.hit;
    if (typeof h.client !== 'string' || typeof h.rule !== 'string' || typeof h.qname !== 'string' || !Array.isArray(h.tags)) return false;
    events.recordHit(h);
  } else {
    if (typeof m.event.type !== 'string') return false;
    events.emit(m.event);
  }
  return true;
}

export type SendMessage = (m: AlertMessage) => void;

const processSend: SendMessage = (m) => {
  process.send?.(m);
};

/** Worker side: a QueryObserver (and emit()) that forwards to the owner instead of spooling. */
export class AlertForwarder implements QueryObserver {
  private readonly c2Tags: ReadonlySet<string>;
  /** Messages that could not be handed to the IPC channel (it was closed). */
  lost = 0;

  constructor(
    c2Tags: readonly string[],
    private readonly send: SendMessage = processSend,
  ) {
    this.c2Tags = new Set(c2Tags);
  }

  onQuery(e: QueryEvent): void {
    if (e.action !== 'blocked') return;
    const h = c2HitOf(e, this.c2Tags);
    if (h !== null) this.post({ type: ALERT_MESSAGE, hit: { ...h, tags: [...h.tags], chain: [...h.chain] } });
  }

  emit(event: NewSecurityEvent): void {
    this.post({ type: ALERT_MESSAGE, event });
  }

  private post(m: AlertMessage): void {
    try {
      this.send(m);
    } catch {
      this.lost++; // the channel closes only when this worker is going away
    }
  }
}
