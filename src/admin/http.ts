// Small HTTP pieces the admin routes share: errors as JSON, bounded JSON bodies, the bearer token
// check, and parsing of the API's time arguments.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { ZodError } from 'zod';
import { ADMIN_TOKEN_ENV } from './config.js';

export const MAX_BODY_BYTES = 64 * 1024;

/** Every 4xx/5xx the API sends: {error: a short stable code, detail: what was wrong, for humans}. */
export interface ErrorBody {
  error: string;
  detail: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }

  body(): ErrorBody {
    return { error: this.code, detail: this.message };
  }
}

export const badRequest = (detail: string): HttpError => new HttpError(400, 'bad_request', detail);
export const notFound = (detail: string): HttpError => new HttpError(404, 'not_found', detail);

export function zodDetail(err: ZodError): string {
  return err.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'body'}: ${i.message}`).join('; ');
}

/**
 * Reads a JSON body of at most `max` bytes; undefined when there is none. Refuses early on a
 * declared Content-Length over the cap, and stops reading once the cap is passed, so a client
 * cannot make the process buffer more than `max` bytes.
 */
export function readJsonBody(req: IncomingMessage, max = MAX_BODY_BYTES): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
    return Promise.reject(new HttpError(415, 'unsupported_media_type', `expected Content-Type: application/json, got "${type}"`));
  }
  const tooLarge = (): HttpError => new HttpError(413, 'payload_too_large', `the request body is limited to ${max} bytes`, { connection: 'close' });
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        done = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('error', (err) => {
      if (!done) reject(err);
      done = true;
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text) as unknown);
      } catch (err) {
        reject(badRequest(`the body is not valid JSON: ${(err as Error).message}`));
      }
    });
  });
}

// Digests have equal length whatever the inputs, so timingSafeEqual neither throws nor leaks the length.
const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Constant-time check of an Authorization header against the configured token. `purpose`: what
 * the call does, for the messages ("change": POST/DELETE; "read": an /api read on a listener that
 * is not on loopback).
 */
export function checkBearer(header: string | undefined, token: string | null, purpose: 'change' | 'read' = 'change'): HttpError | null {
  const how = `set admin.token in the configuration file or the ${ADMIN_TOKEN_ENV} environment variable (at least 16 characters, e.g. \`openssl rand -hex 24\`), restart c2dns, and send it as "Authorization: Bearer TOKEN"`;
  if (token === null) {
    return new HttpError(
      403,
      'forbidden',
      purpose === 'change'
        ? `changes through the admin API are disabled because no admin token is configured: ${how}`
        : `the admin listener is not on loopback, so reading /api needs the admin token, and none is configured: ${how} (or bind admin.listen to 127.0.0.1)`,
    );
  }
  const challenge = { 'www-authenticate': 'Bearer realm="c2dns-admin"' };
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null) {
    const what = purpose === 'change' ? 'this call changes state' : 'the admin listener is not on loopback, so reading /api';
    return new HttpError(401, 'unauthorized', `${what} and needs the header "Authorization: Bearer TOKEN"`, challenge);
  }
  if (!timingSafeEqual(digest(m[1]!), digest(token))) return new HttpError(401, 'unauthorized', 'the bearer token is not the configured admin token', challenge);
  return null;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
export const MAX_EXPIRY_SECONDS = 365 * 86_400;

/** "30m", "1h", "7d", "90s", "3600" or 3600 → seconds; a string error otherwise. */
export function parseExpiresIn(v: string | number): number | string {
  let seconds: number;
  if (typeof v === 'number') seconds = v;
  else {
    const m = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(v);
    if (m === null) return `expected a duration such as "30m", "1h", "7d" or a number of seconds, got "${v}"`;
    seconds = Number(m[1]) * UNIT_SECONDS[m[2] === '' ? 's' : m[2]!]!;
  }
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRY_SECONDS) return `expected a whole number of seconds from 1 to ${MAX_EXPIRY_SECONDS} (365 days), got ${JSON.stringify(v)}`;
  return seconds;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * ISO 8601 or a Unix time → epoch ms. Unix times are seconds (as `date +%s` prints them); values
 * of 10^11 and more are taken as milliseconds (10^11 s would be the year 5138).
 */
export function parseSince(s: string): number | string {
  const t = s.trim();
  if (/^\d+(?:\.\d+)?$/.test(t)) {
    const n = Number(t);
    return n >= 1e11 ? Math.floor(n) : Math.floor(n * 1000);
  }
  if (ISO_8601.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return ms;
  }
  return `expected an ISO 8601 time (2026-01-31T12:00:00Z) or Unix seconds, got "${s}"`;
}

/** An IP address in the form the DNS listeners report it (IPv6 compressed, lower case); null if not one. */
export function canonicalIp(s: string): string | null {
  const family = isIP(s);
  if (family === 4) return s;
  // Dotted IPv4-mapped forms stay as they are: the URL parser would rewrite them to hex.
  if (family === 6) return s.includes('.') ? s.toLowerCase() : new URL(`http://[${s}]/`).hostname.slice(1, -1);
  return null;
}
