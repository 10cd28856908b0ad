// Ed25519 signing for feed publishers (`c2dns sign`). A signature ties a feed to its publisher's
// key rather than to the server or mirror it was fetched from, so a compromised mirror, a
// captive portal or a stale copy cannot pass as the real list.
//
// Workflow:
//   1. Once, the publisher runs `generateKeyPair()` (`c2dns sign keygen`), keeps privateKeyPem
//      secret (mode 600, off the web server) and hands out publicKey (base64, 44 characters).
//   2. For each release, the publisher signs the file exactly as it will be served — after any
//      gzip/zip, since that is what consumers download — with `signFeed(bytes, privateKeyPem)`
//      and publishes FILE and FILE.sig (the base64 signature on one line) side by side.
//   3. Consumers put the public key in the list's config (`signature.publicKey`); c2dns fetches
//      FILE and FILE.sig and refuses an update whose signature does not verify (verify.ts),
//      keeping the last good copy.
// A signature proves origin, not freshness: an old signed file replayed later still verifies.
// Pin a sha256 as well when one exact revision is meant.
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { FeedError } from './errors.js';

export function generateKeyPair(): { publicKey: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  // The JWK "x" member is exactly the raw 32-byte public key (base64url).
  const x = publicKey.export({ format: 'jwk' }).x;
  if (x === undefined) throw new Error('Ed25519 public key export has no "x" member');
  return {
    publicKey: Buffer.from(x, 'base64url').toString('base64'),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/** Base64 detached Ed25519 signature of `body` (the bytes exactly as published). */
export function signFeed(body: Buffer | string, privateKeyPem: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: privateKeyPem, format: 'pem' });
  } catch (err) {
    throw new FeedError('config', `the signing key is not a PEM private key (${(err as Error).message}); expected the file written by \`c2dns sign keygen\``, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new FeedError('config', `the signing key is a ${key.asymmetricKeyType ?? 'unknown'} key; expected Ed25519`);
  return sign(null, typeof body === 'string' ? Buffer.from(body, 'utf8') : body, key).toString('base64');
}
