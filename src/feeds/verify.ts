// Is this the feed the operator meant? A sha256 pin (F7: one exact revision), an Ed25519 detached
// signature (the publisher's key, wherever the bytes were mirrored), and a circuit breaker on the
// entry count (F5: a list that suddenly loses most of its entries is broken, not cleaned up).
// Pin and signature cover the bytes exactly as published: after HTTP Content-Encoding is undone,
// before decodeFeed unpacks a .gz/.zip or strips a BOM — the same bytes `c2dns sign` signed.
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { FeedError } from './errors.js';

export function sha256Hex(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** Bytes hashed per event-loop turn: ~1 ms on an idle core (1 MiB turns took 14 ms on a busy one). */
const HASH_CHUNK = 256 << 10;

/** sha256Hex of a big body, HASH_CHUNK per event-loop turn (hashing 20 MB at once holds answering for tens of ms). */
export async function sha256HexByTurns(body: Buffer): Promise<string> {
  const h = createHash('sha256');
  for (let i = 0; i < body.length; i += HASH_CHUNK) {
    h.update(body.subarray(i, Math.min(body.length, i + HASH_CHUNK)));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return h.digest('hex');
}

/** Throws 'pin-mismatch' unless sha256(body) is the pinned digest (hex, any case, optional "sha256:" prefix). */
export function verifyPin(body: Buffer, expectedSha256: string): void {
  const want = expectedSha256.trim().toLowerCase().replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(want)) throw new FeedError('config', `sha256 pin ${JSON.stringify(expectedSha256.slice(0, 80))} is not 64 hex digits`);
  const got = sha256Hex(body);
  if (got !== want) {
    throw new FeedError('pin-mismatch', `sha256 of the feed (${body.length} bytes) is ${got}; expected the pinned ${want} (the feed changed, or this is not the pinned revision)`);
  }
}

/**
 * Throws 'bad-signature' unless `signature` is a valid Ed25519 signature of `body` by `publicKey`.
 * signature: the .sig file's content — base64 text (surrounding whitespace ignored), or the raw
 * 64 bytes as a Buffer. publicKey: base64 of the raw 32-byte key (what `c2dns sign keygen`
 * prints) or a PEM "PUBLIC KEY" (SPKI).
 */
export function verifySignature(body: Buffer, signature: Buffer | string, publicKey: string): void {
  const key = parsePublicKey(publicKey);
  const sig = parseSignature(signature);
  if (!verify(null, body, key, sig)) {
    throw new FeedError('bad-signature', `Ed25519 signature does not verify for this feed (${body.length} bytes, sha256 ${sha256Hex(body).slice(0, 16)}…) with the configured public key; expected a signature by the publisher's key over these exact bytes`);
  }
}

/** An Ed25519 public key from base64 (raw 32 bytes) or PEM SPKI; 'config' if it is neither. */
export function parsePublicKey(publicKey: string): KeyObject {
  const s = publicKey.trim();
  let key: KeyObject;
  try {
    if (s.startsWith('-----BEGIN')) key = createPublicKey({ key: s, format: 'pem' });
    else {
      const raw = strictBase64(s);
      if (raw === null || raw.length !== 32) throw new Error(`expected base64 of 32 bytes${raw !== null ? `, got ${raw.length}` : ''}`);
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    }
  } catch (err) {
    throw new FeedError('config', `signature public key is not an Ed25519 key (${(err as Error).message}); expected base64 of the raw 32-byte key or a PEM public key`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new FeedError('config', `signature public key is a ${key.asymmetricKeyType ?? 'unknown'} key; expected Ed25519`);
  }
  return key;
}

function parseSignature(signature: Buffer | string): Buffer {
  // A raw signature is exactly 64 bytes; base64 of one is 88 characters, so the two cannot be confused.
  if (Buffer.isBuffer(signature) && signature.length === 64) return signature;
  const text = (Buffer.isBuffer(signature) ? signature.toString('latin1') : signature).trim();
  const sig = strictBase64(text);
  if (sig === null || sig.length !== 64) {
    const seen = sig === null ? `${JSON.stringify(text.slice(0, 40))}, not base64` : `${sig.length} bytes`;
    throw new FeedError('bad-signature', `signature is ${seen}; expected base64 of a 64-byte Ed25519 signature`);
  }
  return sig;
}

/** Buffer.from(s, 'base64') skips characters it does not know; a signature with junk in it is not "close enough". */
function strictBase64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) && !/^[A-Za-z0-9_-]+$/.test(s)) return null;
  return Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
}

/**
 * Circuit breaker (F5): throws 'shrunk' when the new entry count is below
 * lastGood × (1 − maxShrinkRatio). 0.5 refuses losing more than half; 1 never refuses; 0 refuses
 * any loss. No last good count (null or 0) means nothing to compare with.
 */
export function checkShrink(newEntries: number, lastGoodEntries: number | null | undefined, maxShrinkRatio: number): void {
  if (!(maxShrinkRatio >= 0 && maxShrinkRatio <= 1)) throw new FeedError('config', `maxShrinkRatio is ${maxShrinkRatio}; expected a fraction from 0 to 1`);
  if (lastGoodEntries === null || lastGoodEntries === undefined || lastGoodEntries <= 0) return;
  const floor = lastGoodEntries * (1 - maxShrinkRatio);
  if (newEntries < floor) {
    const lost = ((1 - newEntries / lastGoodEntries) * 100).toFixed(1);
    throw new FeedError('shrunk', `the update has ${newEntries} entries, the last good copy ${lastGoodEntries} (−${lost}%); expected at least ${Math.ceil(floor)} (maxShrinkRatio ${maxShrinkRatio}): keeping the last good copy`);
  }
}

/**
 * The other half of F5: throws 'grew' when the new count exceeds lastGood × maxGrowthFactor
 * (e.g. 100: a list that grows a hundredfold at once is more likely a wrong file than news).
 */
export function checkGrowth(newEntries: number, lastGoodEntries: number | null | undefined, maxGrowthFactor: number): void {
  if (!(maxGrowthFactor >= 1)) throw new FeedError('config', `maxGrowthFactor is ${maxGrowthFactor}; expected 1 or more`);
  if (lastGoodEntries === null || lastGoodEntries === undefined || lastGoodEntries <= 0) return;
  if (newEntries > lastGoodEntries * maxGrowthFactor) {
    throw new FeedError('grew', `the update has ${newEntries} entries, the last good copy ${lastGoodEntries} (×${(newEntries / lastGoodEntries).toFixed(1)}); expected at most ×${maxGrowthFactor}: keeping the last good copy`);
  }
}
