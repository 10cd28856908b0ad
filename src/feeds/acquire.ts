// Getting a source's bytes and proving they are the ones the publisher meant: local file or
// HTTP(S) (conditional GET against the last good copy), then the SHA-256 pin and the Ed25519
// detached signature when configured. Any failure is a FeedError; the caller keeps the last good.
import type { ListConfig } from '../config/schema.js';
import { FeedError } from './errors.js';
import { fetchFeed, readLocalFeed } from './fetch.js';
import type { LastGoodMeta } from './store.js';
import { verifyPin, verifySignature } from './verify.js';

export type Acquired = { notModified: true } | { notModified: false; body: Buffer; etag?: string; lastModified?: string; contentType?: string };

export async function acquire(src: ListConfig, lastGood: LastGoodMeta | null): Promise<Acquired> {
  let got: Acquired;
  if (src.url !== undefined) {
    got = await fetchFeed(src.url, {
      timeoutMs: src.timeoutMs,
      maxBytes: src.maxBytes,
      ...(lastGood?.etag !== undefined ? { etag: lastGood.etag } : {}),
      ...(lastGood?.lastModified !== undefined ? { lastModified: lastGood.lastModified } : {}),
    });
  } else {
    got = { notModified: false, body: await readLocalFeed(src.path!, src.maxBytes) };
  }
  if (got.notModified) return got;
  if (src.sha256 !== undefined) verifyPin(got.body, src.sha256);
  if (src.signature !== undefined) {
    const sig = await signatureFor(src);
    verifySignature(got.body, sig.toString('utf8').trim(), src.signature.publicKey);
  }
  return got;
}

async function signatureFor(src: ListConfig): Promise<Buffer> {
  const s = src.signature!;
  try {
    if (s.path !== undefined) return await readLocalFeed(s.path, 4096);
    if (s.url !== undefined || src.url !== undefined) {
      const r = await fetchFeed(s.url ?? `${src.url!}.sig`, { timeoutMs: src.timeoutMs, maxBytes: 4096 });
      if (r.notModified) throw new FeedError('bad-signature', 'signature server answered 304 to an unconditional request');
      return r.body;
    }
    return await readLocalFeed(`${src.path!}.sig`, 4096);
  } catch (err) {
    if (err instanceof FeedError && err.reason === 'bad-signature') throw err;
    throw new FeedError('bad-signature', `cannot get the detached signature: ${(err as Error).message}`);
  }
}
