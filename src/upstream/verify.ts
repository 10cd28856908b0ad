// How c2dns trusts a tls:// or https:// upstream: the certificate chain must verify against the
// system store (Node's bundled Mozilla roots, plus NODE_EXTRA_CA_CERTS) and upstream.caFile when
// set, and carry the expected name (the URL's host name or the name after "#"; for a bare IP, the
// IP). With pins (upstream.spkiPins, or spkiPin in the object form), the chain must also contain a
// certificate whose public key hashes to one of them (RFC 7469 pin-sha256: base64 of SHA-256 over
// the DER SubjectPublicKeyInfo). TLS 1.2 or later; verification is never switched off. The CA bundle
// is read again on SIGHUP (UpstreamCa).
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

export const UPSTREAM_MIN_TLS = 'TLSv1.2';

/** A TLS failure with an upstream: not trusted, wrong name, pin mismatch, handshake refused. */
export class UpstreamTlsError extends Error {
  constructor(
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** The pin of a DER certificate's public key. */
export function spkiPinOf(der: Buffer): string {
  const spki = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Every certificate of a detailed peer certificate chain, leaf first, each once. */
function chainOf(cert: tls.PeerCertificate): tls.PeerCertificate[] {
  const out: tls.PeerCertificate[] = [];
  let c: tls.PeerCertificate | undefined = cert;
  while (c !== undefined && c.raw !== undefined && !out.includes(c)) {
    out.push(c);
    const next: tls.DetailedPeerCertificate | undefined = (c as tls.DetailedPeerCertificate).issuerCertificate;
    if (next === undefined || next === c || (next.raw !== undefined && next.raw.equals(c.raw))) break;
    c = next;
  }
  return out;
}

/** Reads upstream.caFile: the PEM certificates it holds, or an error string. */
export function readCaFile(path: string): string[] | string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return `cannot read ${path}: ${(err as Error).message.replace(/, \w+ '.*'$/s, '')}`;
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) return `${path} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----")`;
  for (const [i, pem] of pems.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      return `certificate ${i + 1} in ${path} cannot be read: ${(err as Error).message}`;
    }
  }
  return pems;
}

export type CaReloadResult = { ok: true; certificates: number } | { ok: false; error: string };

/**
 * The certificate authorities trusted for tls:// and https:// upstreams: the system store, plus
 * upstream.caFile when set. Read at start and again on SIGHUP (reload): a file that reads well
 * replaces the bundle for new connections (open ones keep theirs); one that does not keeps the
 * old bundle. One secure context per bundle, shared by every connection (so the ~140 system roots
 * are not parsed once per handshake).
 */
export class UpstreamCa {
  private context: tls.SecureContext | null;
  /** Bumped by each successful reload: a TLS session saved under an older bundle is not resumed. */
  generation = 0;

  private constructor(
    readonly file: string | null,
    pems: readonly string[] | null,
  ) {
    this.context = UpstreamCa.contextFor(pems);
  }

  /** The system store only (file null), or with the file's certificates; throws when the file cannot be used. */
  static load(file: string | null): UpstreamCa {
    if (file === null) return new UpstreamCa(null, null);
    const r = readCaFile(file);
    if (typeof r === 'string') throw new Error(`upstream.caFile: ${r}`);
    return new UpstreamCa(file, r);
  }

  private static contextFor(pems: readonly string[] | null): tls.SecureContext | null {
    return pems === null ? null : tls.createSecureContext({ ca: [...tls.rootCertificates, ...pems], minVersion: UPSTREAM_MIN_TLS });
  }

  /** tls.connect options for the current bundle (nothing: Node's default store). */
  connectOptions(): Pick<tls.ConnectionOptions, 'secureContext'> {
    return this.context === null ? {} : { secureContext: this.context };
  }

  /** Reads upstream.caFile again; null when none is configured. On failure the old bundle stays. */
  reload(): CaReloadResult | null {
    if (this.file === null) return null;
    const r = readCaFile(this.file);
    if (typeof r === 'string') return { ok: false, error: r };
    let next: tls.SecureContext | null;
    try {
      next = UpstreamCa.contextFor(r);
    } catch (err) {
      return { ok: false, error: `${this.file}: ${(err as Error).message}` };
    }
    this.context = next;
    this.generation++;
    return { ok: true, certificates: r.length };
  }
}

export interface TrustOptions {
  /** Accepted SPKI pins; empty: no pinning. */
  pins: readonly string[];
  /** The upstream as written, for messages. */
  label: string;
}

/**
 * The tls.connect options that verify an upstream as described above, besides the CA bundle
 * (UpstreamCa.connectOptions, taken at each connection so a reload applies to the next one).
 */
export function trustOptions(t: TrustOptions): Pick<tls.ConnectionOptions, 'rejectUnauthorized' | 'minVersion' | 'checkServerIdentity'> {
  const pins = new Set(t.pins);
  return {
    rejectUnauthorized: true,
    minVersion: UPSTREAM_MIN_TLS,
    checkServerIdentity: (host, cert) => {
      const nameError = tls.checkServerIdentity(host, cert);
      if (nameError !== undefined) return nameError;
      if (pins.size === 0) return undefined;
      const seen: string[] = [];
      for (const c of chainOf(cert)) {
        const pin = spkiPinOf(c.raw);
        if (pins.has(pin)) return undefined;
        seen.push(pin);
      }
      const e = new UpstreamTlsError(`upstream ${t.label}: no certificate of its chain matches the SPKI pins configured for it (the chain's keys: ${seen.join(', ')})`, 'SPKI_PIN_MISMATCH');
      return e;
    },
  };
}

/** A readable message for a TLS connection failure ("certificate not trusted (SELF_SIGNED_CERT_IN_CHAIN): …"). */
export function describeTlsError(label: string, err: Error): UpstreamTlsError {
  if (err instanceof UpstreamTlsError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? null;
  const trust = code !== null && /CERT|SELF_SIGNED|UNABLE_TO|ISSUER|ALTNAME|SIGNATURE/.test(code);
  const what = trust ? 'certificate refused' : 'TLS connection failed';
  return new UpstreamTlsError(`upstream ${label}: ${what}${code === null ? '' : ` (${code})`}: ${err.message}`, code);
}
