// The query c2dns sends upstream: the client's question bytes (case kept; the forwarder may
// randomise it, dns/case.ts), recursion desired, the client's CD/AD bits, our own OPT advertising
// 1232 with the client's DO bit, or no OPT for an upstream that failed EDNS (RFC 6891 §7). The
// ID is written per attempt from a CSPRNG pool.
import { randomFillSync } from 'node:crypto';
import { copyBytes } from '../dns/bytes.js';
import { Flag, HEADER_LEN } from '../dns/constants.js';
import { OPT_FIXED_LEN, writeOpt } from '../dns/opt.js';
import type { ParsedQuery } from '../dns/query.js';

/**
 * `options`: raw EDNS options to add to our OPT (the client's ECS with clients.forwardEcs), or
 * null: no client option (ECS, MAC, CPE-ID) ever goes upstream otherwise. `edns` false: a plain
 * RFC 1035 query, no OPT at all (and so no options).
 */
export function buildUpstreamQuery(msg: Buffer, pq: ParsedQuery, options: Buffer | null = null, edns = true): Buffer {
  const optLen = edns ? OPT_FIXED_LEN + (options === null ? 0 : options.length) : 0;
  const out = Buffer.allocUnsafe(pq.qEnd + optLen);
  // Byte by byte: Buffer#writeUInt16BE's argument checks cost more than the header.
  const flags = Flag.RD | (pq.flags & (Flag.CD | Flag.AD));
  out[0] = out[1] = 0; // the ID: the UDP pool or the caller writes it
  out[2] = flags >>> 8;
  out[3] = flags & 0xff;
  out[4] = 0;
  out[5] = 1;
  out[6] = out[7] = out[8] = out[9] = out[10] = 0;
  out[11] = edns ? 1 : 0;
  copyBytes(msg, HEADER_LEN, pq.qEnd, out, HEADER_LEN);
  if (edns) writeOpt(out, pq.qEnd, 0, pq.dnssecOk, options);
  return out;
}

// Random values are drawn in blocks: one crypto call per 2048 IDs or ports.
const pool = new Uint16Array(2048);
let poolPos = pool.length;

export function random16(): number {
  if (poolPos === pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  return pool[poolPos++]!;
}

/** A fresh random source port in the unprivileged range. */
export function randomPort(): number {
  return 1024 + (random16() % (65536 - 1024));
}
