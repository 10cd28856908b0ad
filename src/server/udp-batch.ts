// UDP listener on the native batch addon (native/udp_batch.c, issue 11): the addon reads up to 64
// datagrams per recvmmsg and enters JavaScript once per batch; the answers the batch produces at
// once (cached, blocked, local, errors) are collected and leave in one sendmmsg when the batch
// ends. Answers that come later (upstream misses) are queued and flushed together at setImmediate:
// every upstream reply that arrived in the same event-loop turn goes out in one call, for at most
// one loop phase of delay. Measured (2,000 misses, 100 sent every 5 ms): 62-68 sendmmsg calls with
// setImmediate, 2,000 with queueMicrotask (it flushes inside each upstream reply's own callback).
// Behaviour matches udp.ts: 4 MiB receive buffer, IPv6 sockets are IPv6-only, datagrams from
// port 0 are dropped (in the addon). A full send buffer (EAGAIN) drops the rest of that send and
// counts it (`stats().dropped`) instead of holding answers: the client's retry is the UDP remedy.
import type { NativeSocket, UdpBatchAddon, UdpBatchStats } from '../native/udp-batch-addon.js';
import type { Query } from '../resolve/types.js';
import type { HostPort } from '../upstream/address.js';
import type { Dispatcher } from './dispatch.js';
import { RECEIVE_BUFFER_BYTES, type UdpServing } from './udp.js';

/** Which UDP implementation serves: `batch` (the addon) or `js` (udp.ts). */
export type UdpPath = 'batch' | 'js';

/**
 * server.udpBatch → the path, or a start-up error. `auto` takes the addon when it is built and one
 * process serves (cluster workers share one socket through the primary; the addon owns its own).
 */
export function chooseUdpPath(mode: 'auto' | 'on' | 'off', workers: number | 'auto', addon: UdpBatchAddon | null): { path: UdpPath } | { error: string } {
  if (mode === 'off') return { path: 'js' };
  if (mode === 'auto') return { path: addon !== null && workers === 1 ? 'batch' : 'js' };
  if (addon === null) return { error: 'expected the native UDP batch addon (build/Release/c2dns_udp_batch.node), which is not built: run `node native/install.mjs` in the c2dns directory (needs python3, make and a C compiler; it prints why it cannot build), or set server.udpBatch to auto or off' };
  if (workers !== 1) return { error: `expected workers: 1 with server.udpBatch: on (workers is ${workers}; cluster workers share the primary's UDP socket, which the addon cannot); set server.udpBatch to auto or off` };
  return { path: 'batch' };
}

export class BatchUdpListener implements UdpServing {
  readonly path = 'batch';
  private accepting = true;
  private closed = false;
  private inBatch = false;
  /** The datagram being handed to the dispatcher and its slot in the batch: an answer to it is sent by slot. */
  private handlingMsg: Buffer | null = null;
  private handlingSlot = -1;
  private flushScheduled = false;
  // The answers waiting for the next sendmmsg (reused arrays; `pending` entries are live).
  private pending = 0;
  private readonly outBuffers: Buffer[] = [];
  // The datagram of the current batch a reply answers (its source address needs no parsing), or -1.
  private outSlots = new Int32Array(256);
  private readonly outAddresses: string[] = [];
  private readonly outPorts: number[] = [];
  private socket!: NativeSocket;

  private constructor(
    private readonly addon: UdpBatchAddon,
    private readonly dispatcher: Dispatcher,
    private readonly onError: (err: Error) => void,
    public address: HostPort,
  ) {}

  /** Binds at once (the addon's bind is synchronous); errors carry .code like dgram's (EADDRINUSE). */
  static start(addon: UdpBatchAddon, addr: HostPort, dispatcher: Dispatcher, onError: (err: Error) => void): Promise<BatchUdpListener> {
    try {
      const l = new BatchUdpListener(addon, dispatcher, onError, addr);
      l.socket = addon.open(addr.host, addr.port, addr.family, RECEIVE_BUFFER_BYTES, l.onBatch);
      l.address = { ...addr, port: addon.port(l.socket) };
      return Promise.resolve(l);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private readonly onBatch = (count: number, data: Buffer, addresses: string[], meta: Int32Array): void => {
    if (!this.accepting) return;
    this.inBatch = true;
    try {
      for (let i = 0, m = 0; i < count; i++, m += 4) {
        const off = meta[m]!;
        const msg = data.subarray(off, off + meta[m + 1]!);
        this.handlingMsg = msg;
        this.handlingSlot = i;
        this.dispatcher.handle(msg, addresses[meta[m + 3]!]!, meta[m + 2]!, 'udp', this.send);
      }
    } finally {
      this.inBatch = false;
      this.handlingMsg = null;
    }
    this.flush();
  };

  /**
   * Every query's Send (none is made per query: a closure and its context were ~130 bytes of each
   * query's allocation). An answer given while its own datagram is being handled goes by slot;
   * a later one (an upstream miss) by the address and port the query came from, as the batch's
   * addresses are gone by then.
   */
  private readonly send = (reply: Buffer | null, _end?: boolean, q?: Query): void => {
    if (reply === null || q === undefined) return;
    this.queue(reply, q.msg === this.handlingMsg ? this.handlingSlot : -1, q.clientAddress, q.clientPort);
  };

  private queue(reply: Buffer, slot: number, address: string, port: number): void {
    if (this.closed) return;
    const i = this.pending++;
    if (i === this.outSlots.length) {
      const grown = new Int32Array(i * 2);
      grown.set(this.outSlots);
      this.outSlots = grown;
    }
    this.outBuffers[i] = reply;
    this.outSlots[i] = slot;
    this.outAddresses[i] = address;
    this.outPorts[i] = port;
    if (!this.inBatch && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushLater);
    }
  }

  private readonly flushLater = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    const n = this.pending;
    if (n === 0) return;
    this.pending = 0;
    let failed = 0;
    if (!this.closed) failed = this.addon.send(this.socket, n, this.outBuffers, this.outSlots, this.outAddresses, this.outPorts);
    this.outBuffers.fill(undefined as unknown as Buffer, 0, n); // let the answers be collected
    if (failed > 0) {
      const code = this.addon.stats(this.socket).lastError ?? 'EIO';
      // A full send buffer under a flood: counted (stats().dropped), not logged per batch.
      if (code === 'EAGAIN' || code === 'ENOBUFS') return;
      this.onError(Object.assign(new Error(`send ${code}: ${failed} UDP answer(s) not sent from ${this.address.host}:${this.address.port}`), { code }));
    }
  }

  /** Counters of the native socket (received, batches, sent, sendCalls, dropped, errors). */
  stats(): UdpBatchStats {
    return this.addon.stats(this.socket);
  }

  /** Stop taking new queries; answers still in flight are still sent until close(). */
  stopAccepting(): void {
    this.accepting = false;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.flush();
    this.closed = true;
    return new Promise((resolve) => this.addon.close(this.socket, resolve));
  }
}
