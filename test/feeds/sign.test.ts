// The publisher side: keys and detached signatures that the consumer side (verify.ts) accepts.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, signFeed } from '../../src/feeds/sign.js';
import { verifySignature } from '../../src/feeds/verify.js';
import { throwsFeed } from './vectors.js';

describe('generateKeyPair', () => {
  it('gives a 32-byte raw public key in base64 and a PKCS#8 PEM private key that belong together', () => {
    const { publicKey, privateKeyPem } = generateKeyPair();
    expect(Buffer.from(publicKey, 'base64')).toHaveLength(32);
    expect(publicKey).toHaveLength(44);
    expect(privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const derived = createPublicKey(createPrivateKey(privateKeyPem)).export({ format: 'jwk' }).x;
    expect(Buffer.from(derived!, 'base64url').toString('base64')).toBe(publicKey);
  });

  it('gives a different key each time', () => {
    expect(generateKeyPair().publicKey).not.toBe(generateKeyPair().publicKey);
  });
});

describe('signFeed', () => {
  const { publicKey, privateKeyPem } = generateKeyPair();

  it('signs the exact bytes; a .gz is signed as served', () => {
    const body = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3]);
    const sig = signFeed(body, privateKeyPem);
    expect(Buffer.from(sig, 'base64')).toHaveLength(64);
    verifySignature(body, sig, publicKey);
  });

  it('a string is signed as its UTF-8 bytes', () => {
    verifySignature(Buffer.from('bücher.example\n'), signFeed('bücher.example\n', privateKeyPem), publicKey);
  });

  it('refuses a key that is not an Ed25519 private key', () => {
    throwsFeed(() => signFeed('x', 'not a key'), 'config');
    throwsFeed(() => signFeed('x', publicKey), 'config');
  });
});
