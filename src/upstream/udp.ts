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

/** A question waiting for its reply on one socket. */
interface Waiting {
  id: number;
  /** What was sent. */
  query: Buffer;
  qEnd: number;
  exactCase: boolean;
  accept: ((msg: Buffer) => boolean) | null;
  onSent: (() => void) | null;
  resolve: (r: UdpReply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
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
   * Sends `query` with a fresh ID (written into it) and resolves with the first reply that answers
   * it (checkResponse not Mismatch; a case mismatch with `exactCase` ends it too, for the caller to
   * judge) and that `accept`, when given, takes. Rejects with UpstreamTimeout after `timeoutMs`,
   * or with the socket's error. `onSent`: called when the datagram leaves.
   */
  send(query: Buffer, qEnd: number, timeoutMs: number, exactCase: boolean, accept: ((msg: Buffer) => boolean) | null, onSent: (() => void) | null): Promise<UdpReply> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error(`upstream ${this.server.host}:${this.server.port}: closed`));
        return;
      }
      const s = this.pick();
      const w: Waiting = { id: 0, query, qEnd, exactCase, accept, onSent, resolve, reject, timer: null };
      if (2 * (s.waiting + 1) > s.byId.length && s.byId.length < 65536) grow(s);
      const mask = s.byId.length - 1;
      let id = random16();
      while (s.byId[id & mask] !== undefined) id = random16();
      w.id = id;
      query[0] = id >>> 8;
      query[1] = id & 0xff;
      s.byId[id & mask] = w;
      s.waiting++;
      w.timer = setTimeout(() => this.settle(s, w, new UpstreamTimeout(`no answer from ${this.server.host}:${this.server.port} in ${timeoutMs} ms`), null), timeoutMs);
      if (s.ready) this.transmit(s, w);
      else s.queued.push(w);
    });
  }

  /** Closes every socket; questions still waiting fail. */
  close(): void {
    this.closed = true;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s != null) this.fail(s, new Error(`upstream ${this.server.host}:${this.server.port}: closed`));
      this.slots[i] = null;
    }
    for (const s of [...this.draining]) this.fail(s, new Error(`upstream ${this.server.host}:${this.server.port}: closed`));
  }

  /** A socket drawn at random; one that has served its uses or its time is replaced first. */
  private pick(): Pooled {
    const i = random16() % this.slots.length;
    let s = this.slots[i] ?? null;
    if (s !== null && (s.uses >= this.maxUses || performance.now() - s.openedAt >= this.maxAgeMs)) {
      this.retire(s);
      s = null;
    }
    if (s === null) {
      s = this.open();
      this.slots[i] = s;
    }
    s.uses++;
    return s;
  }

  private open(): Pooled {
    const s: Pooled = {
      socket: null,
      native: null,
      ready: false,
      queued: [],
      byId: new Array<Waiting | undefined>(64).fill(undefined),
      waiting: 0,
      uses: 0,
      openedAt: performance.now(),
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

  private transmit(s: Pooled, w: Waiting): void {
    if (s.native !== null) {
      const code = this.addon!.write(s.native, w.query);
      if (code === 0) w.onSent?.();
      else if (code === 'EAGAIN' || code === 'ENOBUFS') this.sendLater(s, w);
      else this.settle(s, w, Object.assign(new Error(`upstream ${this.server.host}:${this.server.port}: send ${code}`), { code }), null);
      return;
    }
    s.socket!.send(w.query, (err) => {
      if (err) this.settle(s, w, err, null);
      else w.onSent?.();
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
    if (check === ResponseCheck.Mismatch || (w!.accept !== null && !w!.accept(msg))) {
      this.counters.ignoredReplies++;
      return;
    }
    this.settle(s, w!, null, { msg, check });
  }

  private settle(s: Pooled, w: Waiting, err: Error | null, reply: UdpReply | null): void {
    const at = w.id & (s.byId.length - 1);
    if (s.byId[at] !== w) return; // settled already
    s.byId[at] = undefined;
    s.waiting--;
    if (w.timer !== null) clearTimeout(w.timer);
    if (err !== null) w.reject(err);
    else w.resolve(reply!);
    if (s.retired && s.waiting === 0) this.shut(s);
  }

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
    for (const w of s.byId) if (w !== undefined) this.settle(s, w, err, null);
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
 * One question over `pool`. `cookies`: send our DNS Cookie with an EDNS query (./cookies.ts) and
 * drop replies that do not echo it (or carry none, once the upstream has given us a server
 * cookie). On BADCOOKIE the question is asked once more with the server cookie that came with it,
 * and after a second BADCOOKIE over TCP (RFC 7873 §5.3), all within `timeoutMs`. Each datagram
 * gets a new ID, written into `query` too, so the caller's check of the answer against it holds.
 * `onSent`: called as each datagram leaves (stall detection counts a question from then).
 */
export function udpExchange(
  pool: UdpPool,
  query: Buffer,
  qEnd: number,
  timeoutMs: number,
  exactCase = false,
  cookies: UpstreamCookies | null = null,
  onSent: (() => void) | null = null,
): Promise<UdpReply> {
  if (cookies === null || query[11] === 0) return pool.send(query, qEnd, timeoutMs, exactCase, null, onSent);
  return withCookies(pool, query, qEnd, timeoutMs, exactCase, cookies, onSent);
}

async function withCookies(pool: UdpPool, query: Buffer, qEnd: number, timeoutMs: number, exactCase: boolean, cookies: UpstreamCookies, onSent: (() => void) | null): Promise<UdpReply> {
  const server = pool.server;
  const deadline = performance.now() + timeoutMs;
  let missing = false;
  for (let attempt = 0; ; attempt++) {
    // Ready at once but for the first question to an upstream under each secret (source lookup).
    const option = cookies.optionNow(server) ?? (await cookies.option(server));
    cookies.stats.sent++;
    const datagram = withOption(query, qEnd, option);
    const accept = (msg: Buffer): boolean => {
      const v = cookies.check(server, option, msg);
      if (v === 'missing') missing = true;
      return v === 'ok' || v === 'none';
    };
    let reply: UdpReply;
    try {
      reply = await pool.send(datagram, qEnd, Math.max(1, deadline - performance.now()), exactCase, accept, onSent);
    } catch (err) {
      // Only cookie-less answers came: the upstream may have stopped speaking cookies (./cookies.ts).
      if (missing && err instanceof UpstreamTimeout) cookies.forget(server);
      throw err;
    } finally {
      query[0] = datagram[0]!; // its ID
      query[1] = datagram[1]!;
    }
    // BADCOOKIE (23) has 7 in the header's rcode bits: only then is the OPT looked for.
    if ((reply.msg[3]! & 0x0f) !== (Rcode.BADCOOKIE & 0x0f) || messageRcode(reply.msg) !== Rcode.BADCOOKIE) return reply;
    if (attempt === 0) {
      cookies.stats.badcookieRetries++;
      continue;
    }
    cookies.stats.tcpFallbacks++;
    query.writeUInt16BE(random16(), 0);
    const msg = await tcpExchange(server, query, qEnd, Math.max(1, deadline - performance.now()), exactCase);
    return { msg, check: checkResponse(msg, query, qEnd, exactCase) };
  }
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
