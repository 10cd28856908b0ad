// An upstream transport other than plain UDP/TCP: DNS over TLS (./tls.ts) or over HTTPS
// (./https.ts). ForwardStage asks it one question at a time; it owns its connection(s): opened
// when first needed, reused by every later question, closed when idle (upstream.idleTimeoutMs),
// opened again after an error.
// Built from the configuration by ./encrypted.ts (config/encrypted.ts parses the forms).
import type { EncryptedUpstreamSpec } from '../config/encrypted.js';
import { parseHostPort, type HostPort } from './address.js';
import type { BootstrapResolver } from './bootstrap.js';
import { UpstreamTlsError, type UpstreamCa } from './verify.js';

export interface TransportStats {
  /** Connections (TLS handshakes) started. */
  connections: number;
  /** Questions sent. */
  queries: number;
  /** Questions sent on a connection that had already carried one (reuse). */
  reused: number;
  /** Answers that matched no question in flight (DoT). */
  ignored: number;
}

export interface UpstreamTransport {
  readonly kind: 'dot' | 'doh';
  readonly label: string;
  readonly stats: TransportStats;
  /** The CA bundle its connections are verified with (shared, reloadable). */
  readonly ca: UpstreamCa;
  /** The last connection or protocol failure, for the operator; null once a question was answered again. */
  readonly lastError: Error | null;
  /** Called with each connection failure (not timeouts): certificate refused, pin mismatch, refused connection… */
  onError: ((err: Error) => void) | null;
  /**
   * Sends `query` (the transport may rewrite its ID) and resolves with an answer whose ID and
   * question match it (checkResponse: not Mismatch, not Truncated). Rejects with UpstreamTimeout
   * after `timeoutMs`, or with an Error (UpstreamTlsError for TLS failures).
   */
  exchange(query: Buffer, qEnd: number, timeoutMs: number, exactCase: boolean): Promise<Buffer>;
  /** Closes the connection(s); later exchanges open new ones. */
  close(): void;
}

export function newStats(): TransportStats {
  return { connections: 0, queries: 0, reused: 0, ignored: 0 };
}

/** Where to connect: fixed addresses, or the host's addresses from the bootstrap servers. */
export class AddressSource {
  private next = 0;

  constructor(
    private readonly spec: EncryptedUpstreamSpec,
    private readonly bootstrap: BootstrapResolver | null,
  ) {}

  /** The address to try now; after `failed()`, the next one. */
  async pick(): Promise<HostPort> {
    let list: HostPort[] = this.spec.addresses;
    if (list.length === 0) {
      if (this.bootstrap === null) throw new UpstreamTlsError(`upstream ${this.spec.label}: no address for ${this.spec.host} (set upstream.bootstrap or write the address after "#")`);
      const found = await this.bootstrap.lookup(this.spec.host);
      list = found.flatMap((a) => {
        const hp = parseHostPort(a.includes(':') ? `[${a}]:${this.spec.port}` : `${a}:${this.spec.port}`, this.spec.port);
        return typeof hp === 'string' ? [] : [hp];
      });
      if (list.length === 0) throw new UpstreamTlsError(`upstream ${this.spec.label}: no usable address for ${this.spec.host}`);
    }
    return list[this.next % list.length]!;
  }

  /** The connection to the last picked address failed: try the next one next time (and look the name up again). */
  failed(): void {
    this.next++;
    if (this.spec.addresses.length === 0) this.bootstrap?.expire(this.spec.host);
  }
}
