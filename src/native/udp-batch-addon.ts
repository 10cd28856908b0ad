// The binding to the native UDP batch addon (native/udp_batch.c, built by npm install when it can
// be): its calls as TypeScript sees them, and the loader. Shared by the client-facing listener
// (server/udp-batch.ts) and the upstream socket pool (upstream/udp.ts), so neither layer reaches
// into the other; null everywhere means "not built here": node:dgram serves.
import { addonCandidates, loadAddon } from './load-addon.js';

/** The addon's functions (native/udp_batch.c). */
export interface UdpBatchAddon {
  /**
   * onBatch: the batch's datagrams one after the other in `data`; datagram i is meta[4i] (offset),
   * meta[4i+1] (length), meta[4i+2] (source port), addresses[meta[4i+3]] (source address).
   */
  open(host: string, port: number, family: 4 | 6, rcvbuf: number, onBatch: (count: number, data: Buffer, addresses: string[], meta: Int32Array) => void): NativeSocket;
  port(s: NativeSocket): number;
  /**
   * Reply i goes back to the source of datagram slots[i] of the batch being handled, or (slots[i] < 0)
   * to addresses[i]:ports[i]. Returns how many were not sent (refused by the kernel, or dropped on EAGAIN).
   */
  send(s: NativeSocket, count: number, buffers: Buffer[], slots: Int32Array, addresses: string[], ports: number[]): number;
  stats(s: NativeSocket): UdpBatchStats;
  close(s: NativeSocket, done: () => void): void;
}

export interface UdpBatchStats {
  received: number;
  /** recvmmsg calls that returned datagrams (each one call into JavaScript). */
  batches: number;
  sent: number;
  sendCalls: number;
  /** Answers not sent because the socket's send buffer was full. */
  dropped: number;
  errors: number;
  /** The last errno name seen (EPERM, EAGAIN, ...), or null. */
  lastError: string | null;
}

declare const nativeSocket: unique symbol;
export type NativeSocket = { readonly [nativeSocket]: true };

const ADDON_CANDIDATES = addonCandidates('c2dns_udp_batch');

let loaded: UdpBatchAddon | null | undefined;

/** The addon, or null when it was not built (npm install prints why) or cannot load here. */
export function loadUdpBatchAddon(candidates: readonly string[] = ADDON_CANDIDATES): UdpBatchAddon | null {
  if (candidates === ADDON_CANDIDATES && loaded !== undefined) return loaded;
  const addon = loadAddon<UdpBatchAddon>(candidates);
  if (candidates === ADDON_CANDIDATES) loaded = addon;
  return addon;
}

/** The native addon's calls for a client socket (native/udp_batch.c: connect, write). */
export interface ClientAddon extends UdpBatchAddon {
  /** Connects `s` to host:port (it then receives only that peer's datagrams) and unrefs it; receive errors go to onError. */
  connect(s: NativeSocket, host: string, port: number, onError: (code: string) => void): void;
  /** One datagram to the connected peer now: 0, or the errno name. */
  write(s: NativeSocket, datagram: Buffer): 0 | string;
}

/** The built addon when it has the client calls (an older build has not: node:dgram serves). */
export function clientAddon(): ClientAddon | null {
  const a = loadUdpBatchAddon() as Partial<ClientAddon> | null;
  return a !== null && typeof a.connect === 'function' && typeof a.write === 'function' ? (a as ClientAddon) : null;
}
