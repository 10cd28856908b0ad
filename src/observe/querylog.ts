// One JSON line per answered query (pino, asynchronous destination): who asked what, over which
// transport, what was decided and why, the rcode and the latency. Field names are documented in
// README.md ("Query log") and must stay stable: SOC pipelines parse them.
import pino from 'pino';
import { rcodeName, typeName } from '../dns/constants.js';
import type { QueryEvent, QueryObserver } from './query-event.js';

export type QueryLogMode = 'all' | 'blocked' | 'none';

export class QueryLog implements QueryObserver {
  private readonly logger: pino.Logger | null;
  private readonly dest: ReturnType<typeof pino.destination> | null;

  /** `destination`: "stdout" or a file path (appended to). */
  constructor(
    private readonly mode: QueryLogMode,
    destination: string,
  ) {
    if (mode === 'none') {
      this.logger = null;
      this.dest = null;
      return;
    }
    this.dest = pino.destination({ dest: destination === 'stdout' ? 1 : destination, sync: false, mkdir: true });
    this.logger = pino({ base: null, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime }, this.dest);
  }

  onQuery(r: QueryEvent): void {
    const logger = this.logger;
    if (logger === null) return;
    if (this.mode === 'blocked' && r.action !== 'blocked') return;
    const m = r.match;
    logger.info(
      {
        client: r.client,
        clientPort: r.clientPort,
        transport: r.transport,
        qname: r.qname,
        qtype: typeName(r.qtype),
        action: r.action,
        list: m === null ? null : m.list,
        rule: m === null ? null : m.rule,
        ruleKind: m === null ? null : m.kind,
        rcode: r.rcode < 0 ? null : rcodeName(r.rcode), // null: no answer sent (RPZ DROP)
        latencyMs: Math.round(r.latencyMs * 1000) / 1000,
        upstream: r.upstream,
        truncated: r.truncated,
      },
      'query',
    );
  }

  /** Writes out everything buffered (shutdown). */
  flush(): void {
    try {
      this.dest?.flushSync();
    } catch {
      // Nothing buffered yet, or the destination is not ready: nothing to lose.
    }
  }
}
