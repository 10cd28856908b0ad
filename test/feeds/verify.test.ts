// Is this the feed the operator meant? sha256 pins (F7), Ed25519 detached signatures, and the
// shrink/growth circuit breaker (F5).
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FeedError } from '../../src/feeds/errors.js';
import { generateKeyPair, signFeed } from '../../src/feeds/sign.js';
import { checkGrowth, checkShrink, parsePublicKey, sha256Hex, sha256HexByTurns, verifyPin, verifySignature } from '../../src/feeds/verify.js';
import { throwsFeed } from './vectors.js';

const BODY = Buffer.from('msstorageazure.com\nmsstorageboxes.com\n');
// Computed independently: printf 'msstorageazure.com\nmsstorageboxes.com\n' | sha256sum
const BODY_SHA = '7273565dde04df57c275f1627af2dd17d7ddf9b7f63cbc9ecc8657193301ee16';

describe('sha256Hex', () => {
  it('matches the known digest of "abc"', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(Buffer.from('abc'))).toBe(sha256Hex('abc'));
  });
});

describe('verifyPin', () => {
  it('accepts the pinned digest, in any case and with a sha256: prefix', () => {
    verifyPin(BODY, BODY_SHA);
    verifyPin(BODY, BODY_SHA.toUpperCase());
    verifyPin(BODY, `sha256:${BODY_SHA}`);
  });

  it('refuses any other content, saying both digests', () => {
    const e = throwsFeed(() => verifyPin(Buffer.from('msstorageazure.com\n'), BODY_SHA), 'pin-mismatch');
    expect(e.message).toContain(BODY_SHA);
    expect(e.message).toContain(sha256Hex('msstorageazure.com\n'));
  });

  it('a pin that is not a digest is a configuration error', () => {
    throwsFeed(() => verifyPin(BODY, 'abc123'), 'config');
  });
});

describe('verifySignature', () => {
  const pair = generateKeyPair();
  const sig = signFeed(BODY, pair.privateKeyPem);

  it('a good signature verifies: base64 text (as in a .sig file), raw bytes, PEM public key', () => {
    verifySignature(BODY, sig, pair.publicKey);
    verifySignature(BODY, `${sig}\n`, pair.publicKey);
    verifySignature(BODY, Buffer.from(`${sig}\n`), pair.publicKey);
    verifySignature(BODY, Buffer.from(sig, 'base64'), pair.publicKey);
    const pem = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pair.publicKey, 'base64').toString('base64url') }, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
    verifySignature(BODY, sig, pem);
  });

  it('a changed body → bad-signature', () => {
    throwsFeed(() => verifySignature(Buffer.from('msstorageazure.com\n'), sig, pair.publicKey), 'bad-signature', /does not verify/);
  });

  it('a changed signature → bad-signature', () => {
    const raw = Buffer.from(sig, 'base64');
    raw[10] ^= 0x01;
    throwsFeed(() => verifySignature(BODY, raw.toString('base64'), pair.publicKey), 'bad-signature');
  });

  it('the wrong key → bad-signature', () => {
    throwsFeed(() => verifySignature(BODY, sig, generateKeyPair().publicKey), 'bad-signature');
  });

  it('a signature that is not base64 of 64 bytes → bad-signature (an HTML error page as .sig, say)', () => {
    throwsFeed(() => verifySignature(BODY, '<html>404</html>', pair.publicKey), 'bad-signature', /not base64/);
    throwsFeed(() => verifySignature(BODY, Buffer.alloc(32).toString('base64'), pair.publicKey), 'bad-signature', /32 bytes/);
    throwsFeed(() => verifySignature(BODY, '', pair.publicKey), 'bad-signature');
  });

  it('a public key that is not Ed25519 is a configuration error', () => {
    throwsFeed(() => verifySignature(BODY, sig, 'not-a-key'), 'config');
    throwsFeed(() => verifySignature(BODY, sig, Buffer.alloc(31).toString('base64')), 'config', /got 31/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    throwsFeed(() => verifySignature(BODY, sig, rsa), 'config', /rsa key; expected Ed25519/);
  });

  it('parsePublicKey accepts both forms of the same key', () => {
    const a = parsePublicKey(pair.publicKey);
    const b = parsePublicKey(a.export({ format: 'pem', type: 'spki' }).toString());
    expect(a.equals(b)).toBe(true);
  });
});

describe('checkShrink (F5)', () => {
  const cases: [next: number, lastGood: number | null, ratio: number, ok: boolean][] = [
    [500, 1000, 0.5, true], // lost exactly half: allowed
    [499, 1000, 0.5, false],
    [0, 1000, 0.5, false],
    [0, 1000, 1, true], // ratio 1: never refuse
    [999, 1000, 0, false], // ratio 0: refuse any loss
    [1000, 1000, 0, true],
    [5000, 1000, 0.5, true], // growth is checkGrowth's business
    [0, null, 0.5, true], // nothing to compare with
    [0, 0, 0.5, true],
  ];
  for (const [next, last, ratio, ok] of cases) {
    it(`${last} → ${next} with ratio ${ratio}: ${ok ? 'accepted' : 'shrunk'}`, () => {
      if (ok) checkShrink(next, last, ratio);
      else throwsFeed(() => checkShrink(next, last, ratio), 'shrunk', new RegExp(`${next} entries, the last good copy ${last}`));
    });
  }

  it('a ratio outside 0..1 is a configuration error', () => {
    throwsFeed(() => checkShrink(1, 1, 1.5), 'config');
    throwsFeed(() => checkShrink(1, 1, Number.NaN), 'config');
  });
});

describe('checkGrowth (F5)', () => {
  it('refuses growing more than the factor', () => {
    checkGrowth(100_000, 1000, 100);
    throwsFeed(() => checkGrowth(100_001, 1000, 100), 'grew', /×100\.0/);
    checkGrowth(1_000_000, null, 100);
  });
});

describe('FeedError', () => {
  it('is an Error with a reason', () => {
    const e = new FeedError('html', 'seen X; expected Y');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('FeedError');
    expect(e.reason).toBe('html');
  });
});

describe('sha256HexByTurns', () => {
  it('gives sha256Hex of a body hashed in 1 MiB pieces between event-loop turns (empty, one piece, several, a ragged end)', async () => {
    for (const size of [0, 1000, 1 << 20, 3 * (1 << 20) + 17]) {
      const body = Buffer.alloc(size, 'c2-list\n');
      expect(await sha256HexByTurns(body)).toBe(sha256Hex(body));
    }
  });
});
