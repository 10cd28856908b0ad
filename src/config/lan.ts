// Configuration of the LAN features (README "Groups", "Local names and conditional forwarding"):
// per-client policy groups, conditional forwarding by domain suffix, and local records. The keys
// are the ones issue 9 names, so operators' guides can rely on them.
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseHostPort } from '../upstream/address.js';
import { normalizeMac } from '../dns/client-options.js';

/** Every block action a group can answer with (the schema's BLOCK_ACTIONS, repeated to avoid an import cycle). */
const GROUP_ACTIONS = ['null', 'nxdomain', 'nodata', 'refused', 'sinkhole'] as const;

/** The group of every client no other group selects. */
export const DEFAULT_GROUP = 'default';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A domain name as the local stage compares it: lower case, no trailing dot, LDH labels; null if it is not one. Single labels ("lan") are fine. */
export function localName(raw: string): string | null {
  let s = raw.trim().toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s === '' || s.length > 253 || isIP(s) !== 0) return null;
  return s.split('.').every((l) => LABEL.test(l)) ? s : null;
}

const domain = z.string().transform((s, ctx) => {
  const n = localName(s);
  if (n === null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a domain name such as "lan" or "168.192.in-addr.arpa" (not the root), got ${JSON.stringify(s)}` });
    return z.NEVER;
  }
  return n;
});

/**
 * A group selector: a MAC ("aa:bb:cc:dd:ee:ff"), an IP address, a network ("192.168.10.0/24"),
 * or a client name from clients.names. Canonical text: what clientKey gives, or { name }.
 */
export type GroupSelector = { kind: 'mac'; mac: string } | { kind: 'cidr'; cidr: string; bits: number; exact: boolean } | { kind: 'name'; name: string };

export function parseSelector(raw: string): GroupSelector {
  const s = raw.trim();
  const mac = normalizeMac(s);
  if (mac !== null) return { kind: 'mac', mac };
  const [addr = '', bits, extra] = s.split('/');
  const fam = isIP(addr);
  if (fam !== 0 && extra === undefined) {
    const max = fam === 4 ? 32 : 128;
    const n = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : -1;
    if (n >= 0 && n <= max) return { kind: 'cidr', cidr: `${addr}/${n}`, bits: n, exact: n === max };
  }
  return { kind: 'name', name: s };
}

const groupSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected a short name of letters, digits, ".", "_" or "-"'),
    /** CIDRs, IP addresses, MACs or client names (clients.names); the most specific selector over all groups wins. */
    clients: z.array(z.string().trim().min(1)).default([]),
    /** Which lists apply to the group (default: all). Emergency blocks always apply. */
    lists: z.array(z.string().min(1)).optional(),
    /** Answer for the group's blocked queries where the rule and its list have no action of their own (default: blocking.action). */
    action: z.enum(GROUP_ACTIONS).optional(),
    /** false: the group's clients are never quarantined (default: quarantine.enabled). */
    quarantine: z.boolean().optional(),
  })
  .strict();

export type GroupConfig = z.infer<typeof groupSchema>;

export const groupsSchema = z.array(groupSchema).default([]);

const forwardingRule = z
  .object({
    /** Names at and under this domain go to `upstreams`, never to the default upstreams. */
    domain,
    /** Plain DNS servers, ADDR[:PORT] (port 53 by default), asked as the default upstreams are (upstream.*). */
    upstreams: z
      .array(
        z.string().superRefine((s, ctx) => {
          const hp = parseHostPort(s, 53);
          if (typeof hp === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected ADDR[:PORT] (plain DNS, e.g. 192.168.1.1 or [fd00::1]:53): ${hp}` });
        }),
      )
      .min(1),
  })
  .strict();

export type ForwardingRule = z.infer<typeof forwardingRule>;

export const forwardingSchema = z.array(forwardingRule).default([]);

export const LOCAL_RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'PTR', 'TXT'] as const;

const localRecord = z
  .object({
    name: domain,
    type: z.enum(LOCAL_RECORD_TYPES),
    /** A: IPv4; AAAA: IPv6; CNAME, PTR: a name; TXT: text (split into 255-byte strings). */
    value: z.string().min(1).max(4000),
    /** Seconds clients may cache the answer. */
    ttl: z.number().int().min(0).max(86_400).default(300),
  })
  .strict()
  .transform((r, ctx) => {
    if (r.type === 'A' && isIP(r.value) !== 4) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['value'], message: `expected an IPv4 address for type A, got ${JSON.stringify(r.value)}` });
    if (r.type === 'AAAA' && isIP(r.value) !== 6) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['value'], message: `expected an IPv6 address for type AAAA, got ${JSON.stringify(r.value)}` });
    if (r.type === 'CNAME' || r.type === 'PTR') {
      const n = localName(r.value);
      if (n === null) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['value'], message: `expected a domain name for type ${r.type}, got ${JSON.stringify(r.value)}` });
      else return { ...r, value: n };
    }
    return r;
  });

export type LocalRecordConfig = z.infer<typeof localRecord>;

export const localRecordsSchema = z.array(localRecord).default([]);

/** The parts of the configuration the cross-key checks read. */
export interface LanConfigPart {
  lists: readonly { name: string }[];
  clients: { names: Readonly<Record<string, string>> };
  blocking: { sinkhole: { ipv4?: string | undefined; ipv6?: string | undefined } };
  groups: readonly GroupConfig[];
  forwarding: readonly ForwardingRule[];
  localRecords: readonly LocalRecordConfig[];
}

/** Cross-key rules: known lists and client names, each group and selector once, one rule per domain, CNAME alone. */
export function checkLanConfig(c: LanConfigPart, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
  const lists = new Set(c.lists.map((l) => l.name));
  const clientNames = new Set(Object.values(c.clients.names));
  const groups = new Set<string>();
  const selectors = new Map<string, string>();
  c.groups.forEach((g, i) => {
    if (groups.has(g.name)) issue(['groups', i, 'name'], `expected a unique group name; "${g.name}" is used twice`);
    groups.add(g.name);
    if (g.name === DEFAULT_GROUP && g.clients.length > 0) issue(['groups', i, 'clients'], `expected no clients for the group "default": it is every client no other group selects`);
    if (g.name !== DEFAULT_GROUP && g.clients.length === 0) issue(['groups', i, 'clients'], 'expected at least one client (a CIDR, an IP address, a MAC or a name from clients.names)');
    g.clients.forEach((raw, j) => {
      const s = parseSelector(raw);
      if (s.kind === 'name' && !clientNames.has(s.name)) {
        issue(['groups', i, 'clients', j], `expected a CIDR, an IP address, a MAC or a client name from clients.names${clientNames.size > 0 ? ` (${[...clientNames].map((n) => JSON.stringify(n)).join(', ')})` : ' (none are configured)'}, got ${JSON.stringify(raw)}`);
        return;
      }
      const key = s.kind === 'mac' ? s.mac : s.kind === 'cidr' ? canonicalCidr(s.cidr) : `name:${s.name}`;
      const other = selectors.get(key);
      if (other !== undefined) issue(['groups', i, 'clients', j], `expected each client in one group; ${JSON.stringify(raw)} is already in the group "${other}"`);
      else selectors.set(key, g.name);
    });
    (g.lists ?? []).forEach((l, j) => {
      if (!lists.has(l)) issue(['groups', i, 'lists', j], `expected the name of a configured list (${[...lists].map((n) => JSON.stringify(n)).join(', ')}), got ${JSON.stringify(l)}`);
    });
    if (g.action === 'sinkhole' && !c.blocking.sinkhole.ipv4 && !c.blocking.sinkhole.ipv6) issue(['groups', i, 'action'], 'expected blocking.sinkhole.ipv4 and/or ipv6 for the action "sinkhole"');
  });
  const domains = new Set<string>();
  c.forwarding.forEach((f, i) => {
    if (domains.has(f.domain)) issue(['forwarding', i, 'domain'], `expected one rule per domain; "${f.domain}" has two`);
    domains.add(f.domain);
  });
  const types = new Map<string, Set<string>>();
  for (const r of c.localRecords) {
    let t = types.get(r.name);
    if (t === undefined) types.set(r.name, (t = new Set()));
    t.add(r.type);
  }
  c.localRecords.forEach((r, i) => {
    const t = types.get(r.name)!;
    if (t.has('CNAME') && t.size > 1) issue(['localRecords', i], `expected a CNAME to be the only record of "${r.name}" (RFC 1034 §3.6.2); it also has ${[...t].filter((x) => x !== 'CNAME').join(', ')}`);
  });
}

function canonicalCidr(cidr: string): string {
  const [addr, bits] = cidr.split('/') as [string, string];
  const text = isIP(addr) === 6 ? new URL(`http://[${addr}]/`).hostname.slice(1, -1) : addr;
  return `${text}/${bits}`;
}

/**
 * Which groups quarantine their clients: groups[].quarantine, else quarantine.enabled. `exempt`
 * holds the groups that do not ("default" when it does not); `any` is false when none does (the
 * quarantine stage is then left out).
 */
export function quarantineGroups(c: { quarantine: { enabled: boolean }; groups?: readonly GroupConfig[] }): { exempt: ReadonlySet<string>; any: boolean } {
  const exempt = new Set<string>();
  let any = false;
  const groups = c.groups ?? [];
  const all = groups.some((g) => g.name === DEFAULT_GROUP) ? groups : [...groups, { name: DEFAULT_GROUP }];
  for (const g of all) {
    const on = (g as Partial<GroupConfig>).quarantine ?? c.quarantine.enabled;
    if (on) any = true;
    else exempt.add(g.name);
  }
  return { exempt, any };
}

/** The answer a group's blocked queries get where the rule and its list have no action: groups[].action, else blocking.action. */
export function groupAction<A extends string>(c: { blocking: { action: A }; groups?: readonly GroupConfig[] }, group: string): A {
  return ((c.groups ?? []).find((g) => g.name === group)?.action as A | undefined) ?? c.blocking.action;
}

/** Whether `group` is one the configuration knows ("default" always is). */
export function knownGroup(c: { groups?: readonly GroupConfig[] }, group: string): boolean {
  return group === DEFAULT_GROUP || (c.groups ?? []).some((g) => g.name === group);
}
