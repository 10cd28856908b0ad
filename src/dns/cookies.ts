// DNS Cookies (RFC 7873) as a server, with the interoperable server cookie of RFC 9018:
//   Version (1) | Reserved (3, zero) | Timestamp (4, seconds, serial arithmetic) | Hash (8)
//   Hash = SipHash-2-4(Client Cookie | Version | Reserved | Timestamp | Client IP, key)
// A server cookie is valid when its hash matches for this client address and its timestamp is at
// most an hour old and at most 5 minutes ahead (RFC 9018 §4.3); one older than half an hour is
// replaced in the answer.
//
// Keys: with a configured secret (server.cookies.secret: the same 128-bit key as other servers
// behind the same address, e.g. BIND's or Unbound's cookie-secret), that key as it is. Otherwise
// the key changes every rotateHours: HMAC-SHA256(master, "c2dns cookie key" | period) cut to 16
// bytes, the period being the timestamp's; so a cookie is checked with the key of the period it
// was made in (the previous period's cookies stay valid for their hour), and every process that
// has the master (kept in the state directory) agrees without talking to the others.
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseIp } from '../blocklist/prefix-table.js';
import { siphash24 } from './siphash.js';

/** The COOKIE option's code (RFC 7873 §4). */
export const EDNS_OPTION_COOKIE = 10;
export const CLIENT_COOKIE_LEN = 8;
export const SERVER_COOKIE_LEN = 16;
/** RFC 9018 §4.3. */
const MAX_AGE_S = 3600;
const MAX_AHEAD_S = 300;
const RENEW_AFTER_S = 1800;

/** What a query's COOKIE option holds (RFC 7873 §5.2). */
export type CookieVerdict = 'client' | 'valid' | 'invalid';

export interface CookieKeys {
  /** The key cookies stamped at `timestamp` (seconds) are made and checked with. */
  keyFor(timestamp: number): Uint8Array;
}

/** One fixed key (a configured secret shared with other servers). */
export function fixedKey(secret: Uint8Array): CookieKeys {
  return { keyFor: () => secret };
}

/** A key per rotation period, derived from a master secret. */
export function rotatingKeys(master: Uint8Array, rotateSeconds: number): CookieKeys {
  const cache = new Map<number, Uint8Array>();
  return {
    keyFor(timestamp: number): Uint8Array {
      const period = Math.floor(timestamp / rotateSeconds);
      let k = cache.get(period);
      if (k === undefined) {
        const p = Buffer.alloc(8);
        p.writeUInt32BE(Math.floor(period / 2 ** 32), 0);
        p.writeUInt32BE(period >>> 0, 4);
        k = createHmac('sha256', master).update('c2dns cookie key').update(p).digest().subarray(0, 16);
        if (cache.size >= 4) cache.clear();
        cache.set(period, k);
      }
      return k;
    },
  };
}

/**
 * The master secret kept in `dir` (file cookie-secret, 32 hex digits, 0600), made on first use.
 * When it cannot be read or written, a random one for this process only (cookies then do not
 * survive a restart, which costs clients one round trip).
 */
export function loadMasterSecret(dir: string): { secret: Uint8Array; persisted: boolean } {
  const file = join(dir, 'cookie-secret');
  const read = (): Uint8Array | null => {
    try {
      const hex = readFileSync(file, 'utf8').trim();
      return /^[0-9a-f]{32}$/i.test(hex) ? Buffer.from(hex, 'hex') : null;
    } catch {
      return null;
    }
  };
  const have = read();
  if (have !== null) return { secret: have, persisted: true };
  const made = randomBytes(16);
  try {
    // 'wx': another process of a cluster may be making it at the same moment; then theirs wins.
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, `${made.toString('hex')}\n`);
    } finally {
      closeSync(fd);
    }
    return { secret: made, persisted: true };
  } catch {
    const theirs = read();
    return theirs !== null ? { secret: theirs, persisted: true } : { secret: made, persisted: false };
  }
}

/** The client address as the hash takes it: 4 or 16 bytes. */
function addressBytes(address: string): Uint8Array | null {
  const pct = address.indexOf('%');
  const a = pct >= 0 ? address.slice(0, pct) : address;
  if (a.startsWith('::ffff:') && a.includes('.')) return parseIp(a.slice(7));
  return parseIp(a);
}

/** The hash of a server cookie's first 8 bytes (version, reserved, timestamp) for this client. */
function hash(keys: CookieKeys, client: Uint8Array, head: Uint8Array, address: Uint8Array): Buffer {
  const ts = ((head[4]! << 24) | (head[5]! << 16) | (head[6]! << 8) | head[7]!) >>> 0;
  const input = Buffer.allocUnsafe(CLIENT_COOKIE_LEN + 8 + address.length);
  input.set(client, 0);
  input.set(head.subarray(0, 8), CLIENT_COOKIE_LEN);
  input.set(address, CLIENT_COOKIE_LEN + 8);
  return siphash24(keys.keyFor(ts), input);
}

/** A fresh RFC 9018 version 1 server cookie for this client cookie and address, stamped `now` (seconds). */
export function makeServerCookie(keys: CookieKeys, client: Uint8Array, address: string, now: number): Buffer {
  const out = Buffer.alloc(SERVER_COOKIE_LEN);
  out[0] = 1;
  out.writeUInt32BE(now >>> 0, 4);
  const ip = addressBytes(address) ?? new Uint8Array(0);
  hash(keys, client, out, ip).copy(out, 8);
  return out;
}

/** Seconds from `ts` to `now` in serial arithmetic (RFC 1982): negative when ts is ahead. */
function age(ts: number, now: number): number {
  return ((now - ts) << 0) | 0; // the difference mod 2^32, as a signed 32-bit number
}

/**
 * Checks a server cookie the client returned: 'valid' (ours, for this client, in its hour),
 * 'invalid' otherwise. `renew` says whether to hand out a new one (older than half an hour, or
 * not valid).
 */
export function checkServerCookie(keys: CookieKeys, client: Uint8Array, server: Uint8Array, address: string, now: number): { verdict: 'valid' | 'invalid'; renew: boolean } {
  if (server.length !== SERVER_COOKIE_LEN || server[0] !== 1) return { verdict: 'invalid', renew: true };
  const ts = ((server[4]! << 24) | (server[5]! << 16) | (server[6]! << 8) | server[7]!) >>> 0;
  const a = age(ts, now >>> 0);
  if (a > MAX_AGE_S || a < -MAX_AHEAD_S) return { verdict: 'invalid', renew: true };
  const ip = addressBytes(address);
  if (ip === null) return { verdict: 'invalid', renew: true };
  const want = hash(keys, client, server, ip);
  if (!want.equals(server.subarray(8, 16))) return { verdict: 'invalid', renew: true };
  return { verdict: 'valid', renew: a > RENEW_AFTER_S };
}
