// Plain UDP exchanges with one upstream over a small pool of long-lived sockets (RFC 5452): each
// socket is bound to a random port and connected to the upstream, so the kernel delivers it only
// datagrams from the upstream's address and port; each question goes out on a socket drawn at
// random, with a random ID not in use on that socket, and a reply is taken when its ID and question
// match (and, with DNS Cookies, its COOKIE option). Anything else is ignored and counted, and we
// keep waiting. A socket is replaced after MAX_USES questions or MAX_AGE_MS, whichever comes first,
// so a port an attacker may have learnt is soon worth nothing; it is closed once the questions
// still waiting on it are done. Opening a socket per question (bind, close and Node's handle per
// miss) cost more than the rest of a miss's work; a pool of 8 on random ports, rotated every few
// seconds under load, exposes about as many open ports at a time.
// With the native UDP addon built (native/udp_batch.c), the sockets are its own: replies are read
// with recvmmsg, each batch entering JavaScript once, and a question leaves with one send(2): an
// exchange cost ~13,200 instructions instead of node:dgram's ~29,800 (a message event, an rinfo
// object and a send request per datagram; callgrind, 20,000 exchanges 50 at a time on loopback).
// node:dgram serves when the addon is not built.
import dgram from 'node:dgram';
// The module's binding: the global `performance` is an accessor that each read calls.
import { performance } from 'node:perf_hooks';
import { clientAddon, type ClientAddon, type NativeSocket } from '../native/udp-batch-addon.js';
import { Rcode } from '../dns/constants.js';
import { messageRcode } from '../dns/opt.js';
import { checkResponse, ResponseCheck } from '../dns/relay.js';
import type { HostPort } from './address.js';
import { withOption, type UpstreamCookies } from './cookies.js';
import { newCounters, type UpstreamCounters } from './counters.js';
import { random16, randomPort } from './message.js';
import { tcpExchange } from './tcp.js';

export class UpstreamTimeout extends Error {}

/** Sockets per upstream. */
export const POOL_SIZE = 8;
/** Questions a socket carries before it is replaced. */
export const MAX_USES = 1000;
/** How long a socket takes new questions. */
export const MAX_AGE_MS = 10_000;
/** Receive buffer asked for each socket (the kernel caps it at net.core.rmem_max): replies that arrive while the event loop is busy wait there. */
const RECEIVE_BUFFER_BYTES = 1024 * 1024;

export interface UdpPoolOptions {
  size?: number;
  maxUses?: number;
  maxAgeMs?: number;
  /** The native addon to open the sockets with, or null for node:dgram. Default: the addon when it is built with connect() and write(). */
  native?: ClientAddon | null;
}

export interface UdpPoolStats {
  /** Sockets opened (each on a new random port). */
  opened: number;
  /** Sockets closed (replaced, failed, or the pool closed). */
  closed: number;
}

/** A reply that answers the question, and how it does (never Mismatch). */
export interface UdpReply {
  msg: Buffer;
  check: ResponseCheck;
}

/**
 * How a question ends: the reply, or null and the error (UpstreamTimeout, the socket's error).
 * Called once, never from inside the call that asked. A callback, not a promise: with the forward
 * stage's ask() awaiting one, a miss cost ~4,000 more instructions (callgrind, bench/profile.sh
 * --profile lean --workload miss, the two builds in turns).
 */
export type UdpDone = (reply: UdpReply | null, err: Error | null) => void;

/**
 * Who asked a question: told as each datagram leaves (`sent`: stall detection counts a question
 * from then) and, once, how it ended (`done`, a UdpDone). An object, not two callbacks: the forward
 * stage's exchange is one, where two functions and their context per miss were (issue 11).
 */
export interface UdpAsker {
  sent(): void;
  done(reply: UdpReply | null, err: Error | null): void;
}

/** An asker that is not told of sends, from a UdpDone. */
export function askerOf(done: UdpDone): UdpAsker {
  return { sent: () => undefined, done };
}

/** A question asked with our DNS Cookie (./cookies.ts): what its replies are judged by. */
interface CookieTurn {
  cookies: UpstreamCookies;
  /** The COOKIE option the datagram carries. */
  option: Buffer;
  /** The caller's query (the datagram is a copy with the option added): the datagram's ID goes back into it. */
  query: Buffer;
  /** 0, or 1 for the question asked again after a BADCOOKIE. */
  attempt: number;
  /** A reply without a cookie was dropped as forged. */
  missing: boolean;
}

/** A question waiting for its reply on one socket. */
interface Waiting {
  id: number;
  /** What was sent. */
  query: Buffer;
  qEnd: number;
  exactCase: boolean;
  cookie: CookieTurn | null;
  asker: UdpAsker;
  /** The socket it was sent on. */
  s: Pooled;
  /** performance.now() at which it times out, after timeoutMs. */
  deadline: number;
  timeoutMs: number;
  /** Neighbours in the pool's list of waiting questions, earliest deadline first. */
  prev: Waiting | null;
  next: Waiting | null;
}

interface Pooled {
  /** node:dgram's socket, or null on the native path. */
  socket: dgram.Socket | null;
  /** The native addon's socket, or null on the node:dgram path. */
  native: NativeSocket | null;
  /** Bound and connected: sends go out at once; until then they wait in `queued`. */
  ready: boolean;
  queued: Waiting[];
  /**
   * Questions sent and not answered yet, at index ID & (length - 1): IDs are drawn until that
   * slot is free, so no two share one (a Map keyed by ID cost a rehash as it went 0 -> 1 -> 0).
   */
  byId: (Waiting | undefined)[];
  /** Questions in byId. */
  waiting: number;
  uses: number;
  openedAt: number;
  /** Replaced (or failed): takes no new question and closes when `waiting` empties. */
  retired: boolean;
  closed: boolean;
}

export class UdpPool {
  readonly stats: UdpPoolStats = { opened: 0, closed: 0 };
  private readonly slots: (Pooled | null)[];
  /** Replaced sockets still waiting for replies. */
  private readonly draining = new Set<Pooled>();
  private readonly maxUses: number;
  private readonly maxAgeMs: number;
  private readonly addon: ClientAddon | null;
  private closed = false;
  /**
   * The questions waiting, earliest deadline first, and one timer for the earliest: a timer per
   * question cost a setTimeout and a clearTimeout per exchange (~1.3 µs when the timer list they
   * made and removed was the only one of its duration, as it is at a low rate). With one timeout
   * for every question the order is the order of sending, so inserting is appending.
   */
  private first: Waiting | null = null;
  private last: Waiting | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** When `timer` fires (Infinity: not armed). */
  private timerAt = Infinity;

  constructor(
    readonly server: HostPort,
    /** ignoredReplies counts here. */
    private readonly counters: UpstreamCounters,
    o: UdpPoolOptions = {},
  ) {
    this.slots = new Array<Pooled | null>(o.size ?? POOL_SIZE).fill(null);
    this.maxUses = o.maxUses ?? MAX_USES;
    this.maxAgeMs = o.maxAgeMs ?? MAX_AGE_MS;
    this.addon = o.native === undefined ? clientAddon() : o.native;
  }

  /** Sockets open now (taking questions, or draining). */
  get sockets(): number {
    let n = this.draining.size;
    for (const s of this.slots) if (s !== null) n++;
    return n;
  }

  /** Questions waiting for a reply. */
  get waiting(): number {
    let n = 0;
    for (const s of this.draining) n += s.waiting;
    for (const s of this.slots) if (s !== null) n += s.waiting;
    return n;
  }

  /**
   * Sends `query` with a fresh ID (written into it); `done` gets the first reply that answers it
   * (checkResponse not Mismatch; a case mismatch with `exactCase` ends it too, for the caller to
   * judge) and, for a question asked with our DNS Cookie (`cookie`), that the cookie check takes;
   * or UpstreamTimeout after `timeoutMs`, or the socket's error. `asker.sent`: called when the
   * datagram leaves.
   */
  ask(query: Buffer, qEnd: number, timeoutMs: number, exactCase: boolean, cookie: CookieTurn | null, asker: UdpAsker): void {
    if (this.closed) {
      const err = new Error(`upstream ${this.server.host}:${this.server.port}: closed`);
      queueMicrotask(() => asker.done(null, err));
      return;
    }
    const now = performance.now();
    const s = this.pick(now);
    const w: Waiting = { id: 0, query, qEnd, exactCase, cookie, asker, s, deadline: now + timeoutMs, timeoutMs, prev: null, next: null };
    if (2 * (s.waiting + 1) > s.byId.length && s.byId.length < 65536) grow(s);
    const mask = s.byId.length - 1;
    let id = random16();
    while (s.byId[id & mask] !== undefined) id = random16();
    w.id = id;
    query[0] = id >>> 8;
    query[1] = id & 0xff;
    s.byId[id & mask] = w;
    s.waiting++;
    this.enlist(w);
    if (s.ready) this.transmit(s, w, true);
    else s.queued.push(w);
  }

  /** Closes every socket; questions still waiting fail. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s != null) this.fail(s, new Error(`upstream ${this.server.host}:${this.server.port}: closed`));
      this.slots[i] = null;
    }
    for (const s of [...this.draining]) this.fail(s, new Error(`upstream ${this.server.host}:${this.server.port}: closed`));
  }

  /** A socket drawn at random; one that has served its uses or its time is replaced first. */
  private pick(now: number): Pooled {
    const i = random16() % this.slots.length;
    let s = this.slots[i] ?? null;
    if (s !== null && (s.uses >= this.maxUses || now - s.openedAt >= this.maxAgeMs)) {
      this.retire(s);
      s = null;
    }
    if (s === null) {
      s = this.open(now);
      this.slots[i] = s;
    }
    s.uses++;
    return s;
  }

  private open(now: number): Pooled {
    const s: Pooled = {
      socket: null,
      native: null,
      ready: false,
      queued: [],
      byId: new Array<Waiting | undefined>(64).fill(undefined),
      waiting: 0,
      uses: 0,
      openedAt: now,
      retired: false,
      closed: false,
    };
    this.stats.opened++;
    if (this.addon !== null) this.openNative(s, this.addon);
    else this.openDgram(s);
    return s;
  }

  /** Bound, connected and ready at once (the addon's calls are synchronous). */
  private openNative(s: Pooled, addon: ClientAddon): void {
    const { host, port, family } = this.server;
    const onBatch = (count: number, data: Buffer, _addresses: string[], meta: Int32Array): void => {
      for (let i = 0, m = 0; i < count && !s.closed; i++, m += 4) this.receive(s, data.subarray(meta[m]!, meta[m]! + meta[m + 1]!));
    };
    // Sending or receiving failed (e.g. ICMP port unreachable): the upstream cannot be reached this way.
    const onError = (code: string): void => this.fail(s, Object.assign(new Error(`upstream ${host}:${port}: recv ${code}`), { code }));
    for (let attempts = 0; ; attempts++) {
      // An explicit random port (see openDgram); the kernel's choice after four collisions.
      const local = attempts < 4 ? randomPort() : 0;
      try {
        s.native = addon.open(family === 6 ? '::' : '0.0.0.0', local, family, RECEIVE_BUFFER_BYTES, onBatch);
        addon.connect(s.native, host, port, onError);
        break;
      } catch (err) {
        if (s.native !== null) addon.close(s.native, () => undefined);
        s.native = null;
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempts < 4) continue;
        // Failed like a dgram bind: the questions fail (once queued) and the next pick opens another.
        queueMicrotask(() => this.fail(s, err as Error));
        return;
      }
    }
    s.ready = true;
  }

  private openDgram(s: Pooled): void {
    const type = this.server.family === 6 ? 'udp6' : 'udp4';
    let socket = dgram.createSocket(type);
    s.socket = socket;
    let attempts = 0;
    const onMessage = (msg: Buffer): void => this.receive(s, msg);
    // Bind an explicit random port (the whole unprivileged range, not the kernel's ephemeral
    // one); on a collision try another, then let the kernel choose.
    const bind = (): void => {
      const port = attempts++ < 4 ? randomPort() : 0;
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (s.closed) return;
        if (err.code === 'EADDRINUSE' && attempts <= 4) {
          socket.close();
          socket = dgram.createSocket(type);
          s.socket = socket;
          bind();
        } else this.fail(s, err);
      });
      socket.bind(port, () => {
        socket.connect(this.server.port, this.server.host, () => {
          if (s.closed) return;
          socket.removeAllListeners('error');
          // Sending or receiving failed (e.g. ICMP port unreachable): the upstream cannot be reached this way.
          socket.on('error', (err) => this.fail(s, err));
          socket.on('message', onMessage);
          try {
            socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
          } catch {
            // The kernel's default buffer still works; only bursts beyond it are lost.
          }
          socket.unref(); // an idle pool does not keep the process alive
          s.ready = true;
          for (const w of s.queued.splice(0)) this.transmit(s, w);
        });
      });
    };
    bind();
  }

  /** `asking`: inside ask(), whose caller must not be called back before it returns. */
  private transmit(s: Pooled, w: Waiting, asking = false): void {
    if (s.native !== null) {
      const code = this.addon!.write(s.native, w.query);
      if (code === 0) w.asker.sent();
      else if (code === 'EAGAIN' || code === 'ENOBUFS') this.sendLater(s, w);
      else {
        const err = Object.assign(new Error(`upstream ${this.server.host}:${this.server.port}: send ${code}`), { code });
        if (asking) queueMicrotask(() => this.settle(w, err, null));
        else this.settle(w, err, null);
      }
      return;
    }
    s.socket!.send(w.query, (err) => {
      if (err) this.settle(w, err, null);
      else w.asker.sent();
    });
  }

  /** The send buffer is full: sent again once the loop has turned (node:dgram queues such a send too). */
  private sendLater(s: Pooled, w: Waiting): void {
    if (s.queued.push(w) > 1) return;
    setImmediate(() => {
      for (const q of s.queued.splice(0)) if (!s.closed && s.byId[q.id & (s.byId.length - 1)] === q) this.transmit(s, q);
    });
  }

  private receive(s: Pooled, msg: Buffer): void {
    // The socket is connected: the kernel dropped datagrams from any other address or port.
    const id = msg.length >= 2 ? (msg[0]! << 8) | msg[1]! : -1;
    const w = id < 0 ? undefined : s.byId[id & (s.byId.length - 1)];
    const check = w === undefined || w.id !== id ? ResponseCheck.Mismatch : checkResponse(msg, w.query, w.qEnd, w.exactCase);
    if (check === ResponseCheck.Mismatch || (w!.cookie !== null && !this.cookieTaken(w!.cookie, msg))) {
      this.counters.ignoredReplies++;
      return;
    }
    this.settle(w!, null, { msg, check });
  }

  /** Does the reply's COOKIE option pass (./cookies.ts: echoes ours, or none from an upstream without cookies)? */
  private cookieTaken(c: CookieTurn, msg: Buffer): boolean {
    const v = c.cookies.check(this.server, c.option, msg);
    if (v === 'missing') c.missing = true;
    return v === 'ok' || v === 'none';
  }

  private settle(w: Waiting, err: Error | null, reply: UdpReply | null): void {
    const s = w.s;
    const at = w.id & (s.byId.length - 1);
    if (s.byId[at] !== w) return; // settled already
    s.byId[at] = undefined;
    s.waiting--;
    this.delist(w);
    const c = w.cookie;
    if (c !== null) {
      c.query[0] = w.query[0]!; // the datagram's ID
      c.query[1] = w.query[1]!;
    }
    if (s.retired && s.waiting === 0) this.shut(s);
    if (err !== null) {
      // Only cookie-less answers came: the upstream may have stopped speaking cookies (./cookies.ts).
      if (c !== null && c.missing && err instanceof UpstreamTimeout) c.cookies.forget(this.server);
      w.asker.done(null, err);
    } else if (c !== null && isBadCookie(reply!.msg)) {
      afterBadCookie(this, c, w).then(
        (r) => w.asker.done(r, null),
        (e: unknown) => w.asker.done(null, e instanceof Error ? e : new Error(String(e))),
      );
    } else w.asker.done(reply, null);
  }

  /** Into the list of waiting questions, in deadline order (walked from the end: usually its place). */
  private enlist(w: Waiting): void {
    let p = this.last;
    while (p !== null && p.deadline > w.deadline) p = p.prev;
    w.prev = p;
    w.next = p === null ? this.first : p.next;
    if (w.next === null) this.last = w;
    else w.next.prev = w;
    if (p === null) this.first = w;
    else p.next = w;
    if (w.deadline < this.timerAt) this.arm(w.deadline);
  }

  private delist(w: Waiting): void {
    if (w.prev === null) this.first = w.next;
    else w.prev.next = w.next;
    if (w.next === null) this.last = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = null;
  }

  /** The timer for the earliest deadline; left to fire when the questions are answered before it (re-armed then if any wait). */
  private arm(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(at - performance.now())));
  }

  /** Times out every question whose deadline has come, then arms the timer for the next one. */
  private readonly expire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    // Timers count whole milliseconds of the event loop's clock: a deadline within the next one is due.
    const due = performance.now() + 1;
    for (let w = this.first; w !== null && w.deadline <= due; w = this.first) {
      this.settle(w, new UpstreamTimeout(`no answer from ${this.server.host}:${this.server.port} in ${w.timeoutMs} ms`), null);
    }
    if (this.first !== null) this.arm(this.first.deadline);
  };

  /** Takes no new question; closes once those waiting are done. */
  private retire(s: Pooled): void {
    s.retired = true;
    if (s.waiting === 0) this.shut(s);
    else this.draining.add(s);
  }

  /** The socket failed: every question on it fails with `err`, and it is replaced at the next pick. */
  private fail(s: Pooled, err: Error): void {
    const i = this.slots.indexOf(s);
    if (i >= 0) this.slots[i] = null;
    s.retired = true;
    s.queued.length = 0;
    for (const w of s.byId) if (w !== undefined) this.settle(w, err, null);
    this.shut(s);
  }

  private shut(s: Pooled): void {
    this.draining.delete(s);
    if (s.closed) return;
    s.closed = true;
    this.stats.closed++;
    if (s.native !== null) {
      this.addon!.close(s.native, () => undefined);
      return;
    }
    try {
      s.socket?.close();
    } catch {
      // Closed already (a failed bind closes nothing else).
    }
  }
}

/** Doubles the ID table; distinct low bits stay distinct under the wider mask. */
function grow(s: Pooled): void {
  const next = new Array<Waiting | undefined>(s.byId.length * 2).fill(undefined);
  const mask = next.length - 1;
  for (const w of s.byId) if (w !== undefined) next[w.id & mask] = w;
  s.byId = next;
}

/**
 * One question over `pool`, its outcome handed to `asker.done` (UdpDone). `cookies`: send our
 * DNS Cookie with an EDNS query (./cookies.ts) and drop replies that do not echo it (or carry
 * none, once the upstream has given us a server cookie). On BADCOOKIE the question is asked once
 * more with the server cookie that came with it, and after a second BADCOOKIE over TCP (RFC 7873
 * §5.3), all within `timeoutMs`. Each datagram gets a new ID, written into `query` too, so the
 * caller's check of the answer against it holds. `asker.sent`: called as each datagram leaves (stall
 * detection counts a question from then). The cookie check and the BADCOOKIE test run where the
 * reply is taken.
 */
export function udpAsk(
  pool: UdpPool,
  query: Buffer,
  qEnd: number,
  timeoutMs: number,
  exactCase: boolean,
  cookies: UpstreamCookies | null,
  asker: UdpAsker,
): void {
  if (cookies === null || query[11] === 0) return pool.ask(query, qEnd, timeoutMs, exactCase, null, asker);
  // Ready at once but for the first question to an upstream under each secret (source lookup).
  const option = cookies.optionNow(pool.server);
  if (option !== null) return sendWithCookie(pool, query, qEnd, timeoutMs, exactCase, cookies, option, 0, asker);
  const deadline = performance.now() + timeoutMs;
  cookies.option(pool.server).then(
    (o) => sendWithCookie(pool, query, qEnd, Math.max(1, deadline - performance.now()), exactCase, cookies, o, 0, asker),
    (e: unknown) => asker.done(null, e instanceof Error ? e : new Error(String(e))),
  );
}

/** udpAsk as a promise. */
export function udpExchange(
  pool: UdpPool,
  query: Buffer,
  qEnd: number,
  timeoutMs: number,
  exactCase = false,
  cookies: UpstreamCookies | null = null,
  onSent: (() => void) | null = null,
): Promise<UdpReply> {
  return new Promise((resolve, reject) =>
    udpAsk(pool, query, qEnd, timeoutMs, exactCase, cookies, {
      sent: () => onSent?.(),
      done: (r, err) => (r !== null ? resolve(r) : reject(err)),
    }),
  );
}

function sendWithCookie(pool: UdpPool, query: Buffer, qEnd: number, timeoutMs: number, exactCase: boolean, cookies: UpstreamCookies, option: Buffer, attempt: number, asker: UdpAsker): void {
  cookies.stats.sent++;
  const turn: CookieTurn = { cookies, option, query, attempt, missing: false };
  pool.ask(withOption(query, qEnd, option), qEnd, timeoutMs, exactCase, turn, asker);
}

/** BADCOOKIE (23) has 7 in the header's rcode bits: only then is the OPT looked for. */
function isBadCookie(msg: Buffer): boolean {
  return (msg[3]! & 0x0f) === (Rcode.BADCOOKIE & 0x0f) && messageRcode(msg) === Rcode.BADCOOKIE;
}

/** The upstream wants a fresh server cookie (RFC 7873 §5.3): asked once more with it, then over TCP, by `w`'s deadline. */
async function afterBadCookie(pool: UdpPool, c: CookieTurn, w: Waiting): Promise<UdpReply> {
  const { cookies, query } = c;
  const server = pool.server;
  const left = (): number => Math.max(1, w.deadline - performance.now());
  if (c.attempt === 0) {
    cookies.stats.badcookieRetries++;
    const option = cookies.optionNow(server) ?? (await cookies.option(server));
    const asker = w.asker;
    return new Promise((resolve, reject) =>
      sendWithCookie(pool, query, w.qEnd, left(), w.exactCase, cookies, option, 1, {
        sent: () => asker.sent(),
        done: (r, err) => (r !== null ? resolve(r) : reject(err)),
      }),
    );
  }
  cookies.stats.tcpFallbacks++;
  query.writeUInt16BE(random16(), 0);
  const msg = await tcpExchange(server, query, w.qEnd, left(), w.exactCase);
  return { msg, check: checkResponse(msg, query, w.qEnd, w.exactCase) };
}

/** One question to `server` from a socket of its own, closed after (the bootstrap's rare lookups). */
export async function udpExchangeOnce(server: HostPort, query: Buffer, qEnd: number, timeoutMs: number): Promise<UdpReply> {
  const pool = new UdpPool(server, newCounters(), { size: 1 });
  try {
    return await udpExchange(pool, query, qEnd, timeoutMs);
  } finally {
    pool.close();
  }
}
