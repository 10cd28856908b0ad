// Local names, answered here and never sent to the default upstreams:
// - localRecords (A, AAAA, CNAME, PTR, TXT), like Pi-hole's local DNS records. A name with records
//   is owned here: other types get NODATA. A CNAME is followed within localRecords (as dnsmasq's
//   --cname); its target elsewhere is left to the client. Every A/AAAA record also answers the
//   PTR of its address (the first name listed for an address), unless a PTR record is configured
//   for that reverse name.
// - Locally served zones (RFC 6761, RFC 6303, RFC 8375): localhost (every name in it answers
//   127.0.0.1 and ::1), invalid, home.arpa, local, the reverse zones of RFC 1918, RFC 6598 and
//   link-local addresses, and d.f.ip6.arpa (ULA fd00::/8). A name in one of them without local
//   records is NXDOMAIN with the zone's SOA (NODATA at the zone's apex and above local records),
//   unless a `forwarding` rule covers the name: then it goes on, to that rule's upstreams.
// The stage sits after the name policy (a listed name is blocked even here) and before response
// inspection and the cache (nothing here comes from an upstream). Logged with action `local`.
import { CLASS_IN, Flag, HEADER_LEN, RType } from '../dns/constants.js';
import { addressBytes } from '../dns/address.js';
import { encodeName, suffixOffset } from '../dns/names.js';
import { OPT_FIXED_LEN, writeOpt } from '../dns/opt.js';
import type { LocalRecordConfig } from '../config/lan.js';
import { DomainSuffixes } from './conditional.js';
import { labelCount } from './block-answer.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

/** The zones served locally unless a forwarding rule or local records cover a name in them. */
export const LOCAL_ZONES: readonly string[] = [
  'localhost', // RFC 6761 §6.3
  'invalid', // RFC 6761 §6.4
  'local', // RFC 6762 (mDNS names never go to unicast DNS upstreams)
  'home.arpa', // RFC 8375
  '10.in-addr.arpa', // RFC 1918 (RFC 6303 §4.3)
  ...Array.from({ length: 16 }, (_, i) => `${16 + i}.172.in-addr.arpa`),
  '168.192.in-addr.arpa',
  ...Array.from({ length: 64 }, (_, i) => `${64 + i}.100.in-addr.arpa`), // RFC 6598 100.64.0.0/10
  '254.169.in-addr.arpa', // link-local 169.254.0.0/16 (RFC 6303 §4.2)
  '8.e.f.ip6.arpa', // link-local fe80::/10 (RFC 6303 §4.5)
  '9.e.f.ip6.arpa',
  'a.e.f.ip6.arpa',
  'b.e.f.ip6.arpa',
  'd.f.ip6.arpa', // ULA fd00::/8 (RFC 6303 §4.4)
];

/** TTL and SOA MINIMUM of the negative answers the local zones give. */
export const LOCAL_NEGATIVE_TTL = 300;

const TYPE_CODES = { A: RType.A, AAAA: RType.AAAA, CNAME: RType.CNAME, PTR: RType.PTR, TXT: RType.TXT } as const;
// SOA timers of RFC 6303 §3 (serial, refresh, retry, expire); MINIMUM is LOCAL_NEGATIVE_TTL.
const SOA_TIMERS = [1, 604800, 86400, 2419200];
const SOA_RNAME = encodeName('nobody.invalid');
const LOOPBACK_A = Buffer.from([127, 0, 0, 1]);
const LOOPBACK_AAAA = addressBytes('::1');

interface LocalRr {
  readonly type: number;
  readonly ttl: number;
  readonly rdata: Buffer;
  /** CNAME: the target's name. */
  readonly target?: string;
}

/** One answer record: owned by the question name (owner null) or by another name (a followed CNAME's target). */
interface OutRr {
  readonly owner: Buffer | null;
  readonly rr: LocalRr;
}

interface Zone {
  readonly apex: string;
  readonly labels: number;
  /** MNAME = the zone's name (RFC 6303 §3), then RNAME, timers and MINIMUM. */
  readonly soaRdata: Buffer;
}

export class LocalNames {
  private readonly records = new Map<string, LocalRr[]>();
  /** Names above a record's name (empty non-terminals): NODATA, not NXDOMAIN, inside a local zone. */
  private readonly parents = new Set<string>();
  private readonly zones: DomainSuffixes<Zone>;
  private readonly forwarded: DomainSuffixes<true>;
  /** The SOA of a record's own name, for NODATA outside the local zones. */
  private readonly ownZones = new Map<string, Zone>();

  constructor(records: readonly LocalRecordConfig[], forwardingDomains: readonly string[], zones: readonly string[] = LOCAL_ZONES) {
    const add = (name: string, rr: LocalRr): void => {
      let list = this.records.get(name);
      if (list === undefined) this.records.set(name, (list = []));
      list.push(rr);
      for (let i = name.indexOf('.'); i >= 0; i = name.indexOf('.', i + 1)) this.parents.add(name.slice(i + 1));
    };
    for (const r of records) add(r.name, localRr(r));
    // Every address's PTR, from its first A/AAAA name, where no PTR was configured for it.
    const reverse = new Map<string, LocalRecordConfig>();
    for (const r of records) {
      if (r.type !== 'A' && r.type !== 'AAAA') continue;
      const rev = reverseName(r.value);
      if (!reverse.has(rev) && !this.records.get(rev)?.some((x) => x.type === RType.PTR)) reverse.set(rev, r);
    }
    for (const [rev, r] of reverse) add(rev, { type: RType.PTR, ttl: r.ttl, rdata: encodeName(r.name) });
    this.zones = new DomainSuffixes(zones.map((apex) => [apex, zoneOf(apex)] as const));
    this.forwarded = new DomainSuffixes(forwardingDomains.map((d) => [d, true] as const));
  }

  /** The local answer for `q`, or null when the question goes on (not a local name, or forwarded). */
  answer(q: Query): Answer | null {
    const pq = q.pq;
    if (pq.qclass !== CLASS_IN) return null;
    const name = pq.name;
    const own = this.records.size === 0 ? undefined : this.records.get(name);
    if (own !== undefined) return this.fromRecords(q, name, own);
    const zone = this.zones.match(name);
    if (zone === undefined || this.forwarded.match(name) !== undefined) return null;
    if (zone.apex === 'localhost') {
      // RFC 6761 §6.3: localhost and every name under it is the loopback address.
      const qt = pq.qtype;
      const rdata = qt === RType.A ? LOOPBACK_A : qt === RType.AAAA ? LOOPBACK_AAAA : null;
      const answers: OutRr[] = rdata === null ? [] : [{ owner: null, rr: { type: qt, ttl: LOCAL_NEGATIVE_TTL, rdata } }];
      return local(q, 0, answers, answers.length === 0 ? zone : null);
    }
    if (name === zone.apex && pq.qtype === RType.SOA) return local(q, 0, [{ owner: null, rr: { type: RType.SOA, ttl: LOCAL_NEGATIVE_TTL, rdata: zone.soaRdata } }], null);
    const exists = name === zone.apex || this.parents.has(name);
    return local(q, exists ? 0 : 3, [], zone);
  }

  private fromRecords(q: Query, name: string, own: LocalRr[]): Answer {
    const qt = q.pq.qtype;
    const out: OutRr[] = [];
    let rrs = own;
    let owner: Buffer | null = null;
    // A CNAME answers every type but CNAME itself with the chain to the target's records (8 hops at most).
    for (let hops = 0; hops < 8; hops++) {
      const cname = rrs.length === 1 && rrs[0]!.type === RType.CNAME ? rrs[0]! : null;
      if (cname === null || qt === RType.CNAME) {
        for (const rr of rrs) if (rr.type === qt || qt === RType.ANY) out.push({ owner, rr });
        break;
      }
      out.push({ owner, rr: cname });
      const next = this.records.get(cname.target!);
      if (next === undefined) break;
      owner = encodeName(cname.target!);
      rrs = next;
    }
    // NODATA for a name that has records, but not of this type: the SOA of its zone, else of the name.
    let soa: Zone | null = null;
    if (out.length === 0) {
      soa = this.zones.match(name) ?? this.ownZones.get(name) ?? null;
      if (soa === null) this.ownZones.set(name, (soa = zoneOf(name)));
    }
    return local(q, 0, out, soa);
  }
}

function localRr(r: LocalRecordConfig): LocalRr {
  const type = TYPE_CODES[r.type];
  switch (r.type) {
    case 'A':
    case 'AAAA':
      return { type, ttl: r.ttl, rdata: addressBytes(r.value) };
    case 'CNAME':
      return { type, ttl: r.ttl, rdata: encodeName(r.value), target: r.value };
    case 'PTR':
      return { type, ttl: r.ttl, rdata: encodeName(r.value) };
    case 'TXT': {
      // Character-strings of at most 255 bytes each (RFC 1035 §3.3.14).
      const text = Buffer.from(r.value, 'utf8');
      const parts: Buffer[] = [];
      for (let i = 0; i < text.length || i === 0; i += 255) {
        const chunk = text.subarray(i, i + 255);
        parts.push(Buffer.from([chunk.length]), chunk);
        if (text.length === 0) break;
      }
      return { type, ttl: r.ttl, rdata: Buffer.concat(parts) };
    }
  }
}

function zoneOf(apex: string): Zone {
  const mname = encodeName(apex);
  const soaRdata = Buffer.alloc(mname.length + SOA_RNAME.length + 20);
  let off = mname.copy(soaRdata, 0);
  off += SOA_RNAME.copy(soaRdata, off);
  for (const t of SOA_TIMERS) off = soaRdata.writeUInt32BE(t, off);
  soaRdata.writeUInt32BE(LOCAL_NEGATIVE_TTL, off);
  return { apex, labels: labelCount(apex), soaRdata };
}

/** The in-addr.arpa / ip6.arpa name of an address. */
export function reverseName(address: string): string {
  const b = addressBytes(address);
  if (b.length === 4) return `${b[3]}.${b[2]}.${b[1]}.${b[0]}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) nibbles.push((b[i]! & 0x0f).toString(16), (b[i]! >> 4).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}

/**
 * A local answer: AA set (c2dns is the authority for these names), the question echoed, the
 * records, and the zone's SOA in authority for NXDOMAIN/NODATA (its owner points into the question).
 */
function local(q: Query, rcode: number, answers: readonly OutRr[], soa: Zone | null): Answer {
  const pq = q.pq;
  const qLen = pq.qEnd - HEADER_LEN;
  let len = HEADER_LEN + qLen;
  for (const a of answers) len += (a.owner === null ? 2 : a.owner.length) + 10 + a.rr.rdata.length;
  if (soa !== null) len += 12 + soa.soaRdata.length;
  if (pq.edns) len += OPT_FIXED_LEN;
  const out = Buffer.alloc(len);
  out.writeUInt16BE(pq.id, 0);
  out.writeUInt16BE(Flag.QR | Flag.AA | (pq.flags & 0x7800) | (pq.flags & (Flag.RD | Flag.CD)) | Flag.RA | rcode, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(answers.length, 6);
  out.writeUInt16BE(soa === null ? 0 : 1, 8);
  out.writeUInt16BE(pq.edns ? 1 : 0, 10);
  q.msg.copy(out, HEADER_LEN, HEADER_LEN, pq.qEnd);
  let off = pq.qEnd;
  for (const a of answers) {
    if (a.owner === null) off = out.writeUInt16BE(0xc00c, off);
    else off += a.owner.copy(out, off);
    off = out.writeUInt16BE(a.rr.type, off);
    off = out.writeUInt16BE(CLASS_IN, off);
    off = out.writeUInt32BE(a.rr.ttl, off);
    off = out.writeUInt16BE(a.rr.rdata.length, off);
    off += a.rr.rdata.copy(out, off);
  }
  if (soa !== null) {
    let owner = suffixOffset(q.msg, HEADER_LEN, soa.labels);
    if (owner < 0) owner = HEADER_LEN;
    off = out.writeUInt16BE(0xc000 | owner, off);
    off = out.writeUInt16BE(RType.SOA, off);
    off = out.writeUInt16BE(CLASS_IN, off);
    off = out.writeUInt32BE(LOCAL_NEGATIVE_TTL, off);
    off = out.writeUInt16BE(soa.soaRdata.length, off);
    off += soa.soaRdata.copy(out, off);
  }
  if (pq.edns) writeOpt(out, off, 0, pq.dnssecOk, null);
  return { action: 'local', reply: out, stored: null, upstream: null };
}

export class LocalStage implements Stage {
  constructor(
    private readonly names: LocalNames,
    private readonly next: Stage,
  ) {}

  resolve(q: Query): Answer | Promise<Answer> {
    return this.names.answer(q) ?? this.next.resolve(q);
  }
}

export const localStage: StageModule<LocalStage> = {
  name: 'local',
  enabled: () => true,
  create: (d, next) =>
    new LocalStage(
      new LocalNames(
        d.cfg.localRecords ?? [],
        (d.cfg.forwarding ?? []).map((f) => f.domain),
      ),
      requireNext('local', next),
    ),
};
