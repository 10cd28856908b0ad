// Bootstrap: the addresses of a tls:// or https:// upstream given by name, asked of the plain DNS
// servers in upstream.bootstrap (by IP; UDP from a random port with a CSPRNG ID, like any upstream
// query). Never through c2dns itself nor the system resolver, which on a host that uses c2dns is
// c2dns: a name that resolves only through the upstream it names could never be reached. The
// addresses are kept for their TTL (at least 60 s, at most a day) and kept past it when a new
// lookup fails (a stale address beats none).
import { Flag, HEADER_LEN, RType } from '../dns/constants.js';
import { encodeName, skipName } from '../dns/names.js';
import { ResponseCheck } from '../dns/relay.js';
import type { HostPort } from './address.js';
import { random16 } from './message.js';
import { udpExchangeOnce } from './udp.js';

const MIN_TTL_S = 60;
const MAX_TTL_S = 86_400;

interface Entry {
  addresses: string[];
  expires: number;
  pending: Promise<string[]> | null;
}

/** A question for `name` / `qtype` with RD set and a random ID. */
export function addressQuery(name: string, qtype: number): { query: Buffer; qEnd: number } {
  const qname = encodeName(name);
  const query = Buffer.alloc(HEADER_LEN + qname.length + 4);
  query.writeUInt16BE(random16(), 0);
  query.writeUInt16BE(Flag.RD, 2);
  query.writeUInt16BE(1, 4);
  qname.copy(query, HEADER_LEN);
  query.writeUInt16BE(qtype, HEADER_LEN + qname.length);
  query.writeUInt16BE(1, HEADER_LEN + qname.length + 2);
  return { query, qEnd: query.length };
}

/** The A or AAAA addresses in an answer section, and their smallest TTL; null when malformed. */
export function answerAddresses(resp: Buffer, qEnd: number): { addresses: string[]; ttl: number } | null {
  const an = resp.readUInt16BE(6);
  let off = qEnd;
  const addresses: string[] = [];
  let ttl = -1;
  for (let i = 0; i < an; i++) {
    off = skipName(resp, off);
    if (off < 0 || off + 10 > resp.length) return null;
    const type = resp.readUInt16BE(off);
    const t = resp.readUInt32BE(off + 4);
    const rdlen = resp.readUInt16BE(off + 8);
    const rdata = off + 10;
    if (rdata + rdlen > resp.length) return null;
    if (type === RType.A && rdlen === 4) addresses.push([...resp.subarray(rdata, rdata + 4)].join('.'));
    else if (type === RType.AAAA && rdlen === 16) {
      const groups: string[] = [];
      for (let g = 0; g < 8; g++) groups.push(resp.readUInt16BE(rdata + g * 2).toString(16));
      addresses.push(new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1));
    }
    if ((type === RType.A || type === RType.AAAA) && (ttl < 0 || t < ttl)) ttl = t;
    off = rdata + rdlen;
  }
  return { addresses, ttl };
}

export class BootstrapResolver {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly servers: readonly HostPort[],
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The addresses of `name` (IPv4 first); throws when none was ever learnt. */
  async lookup(name: string): Promise<string[]> {
    let e = this.cache.get(name);
    if (e === undefined) {
      e = { addresses: [], expires: 0, pending: null };
      this.cache.set(name, e);
    }
    if (e.addresses.length > 0 && e.expires > this.now()) return e.addresses;
    e.pending ??= this.fetch(name, e).finally(() => {
      e.pending = null;
    });
    try {
      return await e.pending;
    } catch (err) {
      if (e.addresses.length > 0) return e.addresses; // stale beats none
      throw err;
    }
  }

  /** Forget what was learnt (an upstream whose addresses stopped answering): the next lookup asks again. */
  expire(name: string): void {
    const e = this.cache.get(name);
    if (e !== undefined) e.expires = 0;
  }

  private async fetch(name: string, e: Entry): Promise<string[]> {
    const errors: string[] = [];
    for (const server of this.servers) {
      try {
        // Either family will do: an AAAA lookup that fails does not cost the A records.
        const [r4, r6] = await Promise.allSettled([this.ask(server, name, RType.A), this.ask(server, name, RType.AAAA)]);
        if (r4.status === 'rejected' && r6.status === 'rejected') throw r4.reason;
        const v4 = r4.status === 'fulfilled' ? r4.value : { addresses: [], ttl: -1 };
        const v6 = r6.status === 'fulfilled' ? r6.value : { addresses: [], ttl: -1 };
        const addresses = [...v4.addresses, ...v6.addresses];
        if (addresses.length === 0) {
          errors.push(`${server.host}: no A or AAAA record`);
          continue;
        }
        const ttls = [v4.ttl, v6.ttl].filter((t) => t >= 0);
        const ttl = Math.min(MAX_TTL_S, Math.max(MIN_TTL_S, ttls.length > 0 ? Math.min(...ttls) : MIN_TTL_S));
        e.addresses = addresses;
        e.expires = this.now() + ttl * 1000;
        return addresses;
      } catch (err) {
        errors.push(`${server.host}: ${(err as Error).message}`);
      }
    }
    throw new Error(`cannot resolve ${name} through upstream.bootstrap (${errors.join('; ')})`);
  }

  private async ask(server: HostPort, name: string, qtype: number): Promise<{ addresses: string[]; ttl: number }> {
    const { query, qEnd } = addressQuery(name, qtype);
    const { msg: resp, check: chk } = await udpExchangeOnce(server, query, qEnd, this.timeoutMs);
    if (chk !== ResponseCheck.Ok) throw new Error(chk === ResponseCheck.Truncated ? 'truncated answer' : 'unusable answer');
    const rcode = resp[3]! & 0x0f;
    if (rcode !== 0 && rcode !== 3) throw new Error(`rcode ${rcode}`);
    const r = answerAddresses(resp, qEnd);
    if (r === null) throw new Error('malformed answer');
    return r;
  }
}
