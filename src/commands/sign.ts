// `c2dns sign`: for feed publishers. `c2dns sign keygen --out KEY` writes an Ed25519 private key
// (PEM, mode 600) and prints the public key for consumers' `signature.publicKey`;
// `c2dns sign FILE --key KEY` writes FILE.sig (base64 detached signature) next to FILE.
import { readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPair, signFeed } from '../feeds/sign.js';

export function keygen(out: string): string {
  const { publicKey, privateKeyPem } = generateKeyPair();
  writeFileSync(out, privateKeyPem, { mode: 0o600, flag: 'wx' });
  return publicKey;
}

export function signFile(file: string, keyFile: string): string {
  const sig = signFeed(readFileSync(file), readFileSync(keyFile, 'utf8'));
  writeFileSync(`${file}.sig`, `${sig}\n`);
  return `${file}.sig`;
}
