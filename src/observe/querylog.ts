// One JSON line per answered query: who asked what, over which transport, what was decided and
// why, the rcode and the latency. Field names are documented in README.md ("Query log") and
// must stay stable: SOC pipelines parse them. The line has a fixed shape, so it is built by hand
// (pino's generic serialisation cost as much CPU as answering the query); pino's asynchronous
// destination (sonic-boom) does the writing, so logging never blocks answering.
import pino from 'pino';
import { rcodeName, typeName } from '../dns/constants.js';
import { reasonText, type Decision } from '../policy/decision.js';
import type { QueryEvent, QueryObserver } from './query-event.js';

export type QueryLogMode = 'all' | 'blocked' | 'none';

/** sonic-boom in contentMode 'buffer' (pino's types only describe its string mode). */
interface Destination {
  write(chunk: Buffer): boolean;
  flushSync(): void;
  on(event: 'error', fn: (err: Error) => void): unknown;
  on(event: 'write', fn: () => void): unknown;
}

const CHUNK = 64 * 1024;
/** Bytes the destination holds while it cannot write (disk full…); beyond, new lines are dropped. */
const MAX_PENDING = 16 * 1024 * 1024;

export class QueryLog implements QueryObserver {
  private readonly dest: Destination | null;
  private lastMs = -1;
  private lastIso = '';
  private timer: NodeJS.Timeout | null = null;
  // Lines are ASCII (str() escapes the rest), so they are copied byte for byte into a chunk and
  // the chunk is handed to the destination whole: one write per ~200 lines, no UTF-8 encoding
  // pass over a concatenated string.
  private chunk = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  /** The last write failed (and none worked since). */
  private failing = false;

  /**
   * `destination`: "stdout" or a file path (appended to). `onTrouble` hears a write that failed
   * (the error) and the first one that works again after that (null); the log never throws.
   */
  constructor(
    private readonly mode: QueryLogMode,
    destination: string,
    onTrouble: (err: Error | null) => void = () => {},
  ) {
    this.dest =
      mode === 'none'
        ? null
        : (pino.destination({ dest: destination === 'stdout' ? 1 : destination, sync: false, mkdir: true, contentMode: 'buffer', maxLength: MAX_PENDING }) as unknown as Destination);
    if (this.dest !== null) {
      this.dest.on('error', (err) => {
        this.failing = true;
        onTrouble(err);
      });
      this.dest.on('write', () => {
        if (!this.failing) return;
        this.failing = false;
        onTrouble(null);
      });
      // At low traffic a partial chunk goes out within a quarter second, so `tail -f` stays live.
      this.timer = setInterval(() => this.push(), 250);
      this.timer.unref();
    }
  }

  onQuery(r: QueryEvent): void {
    if (this.dest === null) return;
    // "blocked": every query a rule or quarantine acted on, watch-list hits included.
    if (this.mode === 'blocked' && r.action !== 'blocked' && r.action !== 'local-data' && r.decision?.verdict !== 'monitor') return;
    const line = this.line(r);
    if (this.used + line.length > CHUNK) this.push();
    if (line.length > CHUNK) {
      this.dest.write(Buffer.from(line, 'latin1'));
      return;
    }
    this.used += this.chunk.write(line, this.used, 'latin1');
  }

  /** Hands the filled part of the chunk to the destination (which keeps it) and starts a new one. */
  private push(): void {
    if (this.used === 0 || this.dest === null) return;
    try {
      this.dest.write(this.chunk.subarray(0, this.used));
    } catch {
      // The destination is not open yet (first milliseconds) or closed: the lines stay queued.
      return;
    }
    this.chunk = Buffer.allocUnsafe(CHUNK);
    this.used = 0;
  }

  /** The JSON line for one query (exported shape: see README). */
  line(r: QueryEvent): string {
    if (r.time !== this.lastMs) {
      this.lastMs = r.time;
      this.lastIso = new Date(r.time).toISOString();
    }
    const d = r.decision;
    const m = d === null ? null : d.rule;
    return (
      `{"level":30,"time":"${this.lastIso}","client":${str(r.client)},"clientPort":${r.clientPort},` +
      `"via":${r.via === null ? 'null' : str(r.via)},"mac":${r.mac === null ? 'null' : str(r.mac)},"clientName":${r.clientName === null ? 'null' : str(r.clientName)},"group":${r.group === undefined ? '"default"' : str(r.group)},"transport":"${r.transport}",` +
      `"qname":${str(r.qname)},"qtype":"${typeName(r.qtype)}","action":"${r.action}",` +
      `"list":${m === null ? 'null' : str(m.list)},"rule":${m === null ? 'null' : str(m.rule)},"ruleKind":${m === null ? 'null' : `"${m.kind}"`},` +
      (d === null ? NO_DECISION : decisionFields(d)) +
      `"rcode":${r.rcode < 0 ? 'null' : `"${rcodeName(r.rcode)}"`},"latencyMs":${Math.round(r.latencyMs * 1000) / 1000},` +
      `"upstream":${r.upstream === null ? 'null' : str(r.upstream)},"truncated":${r.truncated},"msg":"query"}\n`
    );
  }

  /**
   * Reopens the log file at its path, after logrotate moved it away (SIGUSR1, POST
   * /api/log/reopen): lines written so far stay in the moved file, later ones go to a new file.
   * Resolves false when the log goes to stdout or is off (nothing to reopen); rejects when the
   * new file cannot be opened, and lines then keep going to the moved file.
   */
  async reopen(timeoutMs = 5000): Promise<boolean> {
    // sonic-boom: `file` is the path (null for a descriptor such as stdout), `fd` -1 until opened.
    const dest = this.dest as SonicBoomLike | null;
    if (dest === null || (dest.file === null && dest.fd >= 0)) return false;
    // Still opening the first time: sonic-boom would defer the reopen to after its first 'ready',
    // which would then answer for the wrong open.
    if (dest.fd < 0) await nextOpen(dest, timeoutMs, () => {});
    this.push();
    // sonic-boom's reopen leaves a once('ready') that closes the previous descriptor; when the open
    // fails, that listener stays and the next successful reopen would close the same number twice,
    // the second time closing whatever socket or file got it in between. It is removed on failure.
    const before = new Set(dest.listeners('ready'));
    try {
      await nextOpen(dest, timeoutMs, () => dest.reopen());
    } catch (err) {
      for (const l of dest.listeners('ready')) if (!before.has(l)) dest.off('ready', l as () => void);
      throw err;
    }
    return true;
  }

  /** Writes out everything buffered (shutdown). */
  flush(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.push();
    // sonic-boom's flushSync retries a failing write for ever (every 100 ms, blocking the process),
    // and pino calls it again when the process exits: a destination known to fail is not flushed
    // (its pending lines are lost) and is told to stop flushing, as pino does itself on EPIPE.
    if (this.failing) {
      if (this.dest !== null) Object.assign(this.dest, { flushSync: () => {}, flush: () => {} });
      return;
    }
    try {
      this.dest?.flushSync();
    } catch {
      // Nothing buffered yet, or the destination is not ready: nothing to lose.
    }
  }
}

/** What reopen() uses of sonic-boom, pino's destination. */
type SonicBoomLike = Destination & NodeJS.EventEmitter & { fd: number; file: string | null; reopen(): void };

/** Runs `start` and settles on the destination's next 'ready' (resolves) or 'error' (rejects). */
function nextOpen(dest: SonicBoomLike, timeoutMs: number, start: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      dest.off('ready', ready);
      dest.off('error', failed);
      if (err === null) resolve();
      else reject(err);
    };
    const ready = (): void => done(null);
    const failed = (err: Error): void => done(err);
    const timer = setTimeout(() => done(new Error(`the log file did not open within ${timeoutMs} ms`)), timeoutMs);
    dest.once('ready', ready);
    dest.once('error', failed);
    try {
      start();
    } catch (err) {
      done(err as Error);
    }
  });
}

const NO_DECISION = '"decidedBy":null,"trigger":null,"chain":null,"reason":null,"tags":[],';

/** The decision beyond list and rule: who, what triggered it, through which names, and its tags. */
function decisionFields(d: Decision): string {
  return `"decidedBy":"${d.by}","trigger":"${d.trigger}","chain":[${d.chain.map(str).join(',')}],"reason":${str(reasonText(d))},"tags":[${d.tags.map(str).join(',')}],`;
}

/** JSON string literal; the common case (no quote, backslash or control character) is a plain concat. */
function str(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}
