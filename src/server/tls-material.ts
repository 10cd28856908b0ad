// The certificate and key of the tls:// and https:// listeners: read and checked (a PEM certificate,
// a PEM key, the key belonging to the certificate) before anything binds, and read again on SIGHUP
// (certbot renewals): a good new pair replaces the secure context of every listener for new
// connections; a pair that cannot be read or does not match keeps the old one. TLS 1.2 and later.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

export const MIN_TLS_VERSION = 'TLSv1.2';

/** What failed, under which configuration key. */
export class TlsFileError extends Error {
  constructor(
    readonly key: 'tls.certFile' | 'tls.keyFile',
    message: string,
  ) {
    super(message);
  }
}

export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The leaf certificate's expiry. */
  readonly notAfter: Date;
  readonly notBefore: Date;
  /** Subject alternative names of the leaf ("DNS:c2dns.example, IP Address:192.0.2.1"). */
  readonly names: string;
  /** SHA-256 fingerprint of the leaf, as openssl prints it. */
  readonly fingerprint: string;
}

function reason(err: unknown): string {
  return (err as Error).message.replace(/, \w+ '.*'$/s, '');
}

/** Reads and checks a certificate/key pair; throws TlsFileError naming the key to fix. */
export function loadTlsPair(certFile: string, keyFile: string): TlsPair {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certFile);
  } catch (err) {
    throw new TlsFileError('tls.certFile', `cannot read ${certFile}: ${reason(err)}`);
  }
  try {
    key = readFileSync(keyFile);
  } catch (err) {
    throw new TlsFileError('tls.keyFile', `cannot read ${keyFile}: ${reason(err)}`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new TlsFileError('tls.certFile', `${certFile} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----"): ${reason(err)}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsFileError('tls.keyFile', `${keyFile} holds no usable PEM private key (an encrypted key needs its passphrase removed): ${reason(err)}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new TlsFileError('tls.keyFile', `${keyFile} is not the private key of the certificate in ${certFile}`);
  try {
    tls.createSecureContext(contextOptions({ cert, key }));
  } catch (err) {
    throw new TlsFileError('tls.certFile', `${certFile} and ${keyFile} cannot be used for TLS: ${reason(err)}`);
  }
  return {
    cert,
    key,
    notAfter: new Date(leaf.validTo),
    notBefore: new Date(leaf.validFrom),
    names: leaf.subjectAltName ?? leaf.subject.replace(/\n/g, ', '),
    fingerprint: leaf.fingerprint256,
  };
}

/** Secure context options for a pair: TLS 1.2 or later, the cert chain as given. */
export function contextOptions(pair: { cert: Buffer; key: Buffer }): tls.SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: MIN_TLS_VERSION };
}

/** Warnings about a pair that works but will not for long (or not yet). */
export function pairWarnings(pair: TlsPair, certFile: string, now = Date.now()): string[] {
  const out: string[] = [];
  if (pair.notAfter.getTime() < now) out.push(`the certificate in ${certFile} expired on ${pair.notAfter.toISOString()}: clients will refuse it`);
  else if (pair.notBefore.getTime() > now) out.push(`the certificate in ${certFile} is not valid before ${pair.notBefore.toISOString()}`);
  return out;
}

/** Something whose secure context can be replaced (tls.Server, http2.Http2SecureServer). */
export interface SecureContextTarget {
  setSecureContext(options: tls.SecureContextOptions): void;
}

export type TlsReloadResult = { ok: true; notAfter: string; fingerprint: string; names: string } | { ok: false; error: string };

/** The listeners' pair, reloadable. */
export class TlsMaterial {
  private readonly targets: SecureContextTarget[] = [];

  constructor(
    readonly certFile: string,
    readonly keyFile: string,
    private pair: TlsPair,
  ) {}

  static load(certFile: string, keyFile: string): TlsMaterial {
    return new TlsMaterial(certFile, keyFile, loadTlsPair(certFile, keyFile));
  }

  get current(): TlsPair {
    return this.pair;
  }

  options(): tls.SecureContextOptions {
    return contextOptions(this.pair);
  }

  /** A listener whose context follows reloads. */
  attach(target: SecureContextTarget): void {
    this.targets.push(target);
  }

  /** Reads the files again; on success every attached listener uses the new pair for new connections. */
  reload(): TlsReloadResult {
    let next: TlsPair;
    try {
      next = loadTlsPair(this.certFile, this.keyFile);
    } catch (err) {
      return { ok: false, error: `key "${err instanceof TlsFileError ? err.key : 'tls'}": ${(err as Error).message}` };
    }
    const opts = contextOptions(next);
    try {
      for (const t of this.targets) t.setSecureContext(opts);
    } catch (err) {
      // Unreachable after loadTlsPair's own createSecureContext; restore what was there.
      for (const t of this.targets) t.setSecureContext(contextOptions(this.pair));
      return { ok: false, error: reason(err) };
    }
    this.pair = next;
    return { ok: true, notAfter: next.notAfter.toISOString(), fingerprint: next.fingerprint, names: next.names };
  }
}
