// Incident response: emergency blocks, quarantined clients, and the security event feed.
import { z } from 'zod';
import { normalizeDomain } from '../../blocklist/domain.js';
import { normalizeMac } from '../../dns/client-options.js';
import { badRequest, canonicalIp, notFound, parseExpiresIn, parseSince, zodDetail } from '../http.js';
import { propagationFor, wantsWait } from './fleet.js';
import { json, type Route } from './types.js';

const MAX_NAMES = 1000;
export const EVENTS_DEFAULT_LIMIT = 1000;
export const EVENTS_MAX_LIMIT = 10_000;

const blockBody = z
  .object({
    names: z.array(z.string().min(1).max(1024)).min(1).max(MAX_NAMES),
    reason: z.string().trim().min(1, 'expected a reason (ticket, incident, source)').max(500),
    expiresIn: z.union([z.string(), z.number()]).optional(),
  })
  .strict();

const actor = (remote: string): string => `api ${remote}`;

const CLIENT_NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._:@-]{0,63}$/u;

/** A client to release as the store keys it: canonical IP or MAC, or a client name (clients.names); null otherwise. */
function quarantineSelector(raw: string): string | null {
  const ip = canonicalIp(raw);
  if (ip !== null) return ip;
  const mac = normalizeMac(raw);
  if (mac !== null) return mac;
  const name = raw.trim();
  return CLIENT_NAME.test(name) ? name : null;
}

/** Normalised names, or 400 naming every bad one: one typo must not block half a batch. */
function normaliseAll(raw: readonly string[]): string[] {
  const ok = new Set<string>();
  const bad: string[] = [];
  for (const r of raw) {
    const n = normalizeDomain(r);
    if (n.ok) ok.add(n.name);
    else bad.push(`${JSON.stringify(r)}: ${n.reason}`);
  }
  if (bad.length > 0) throw badRequest(`not valid names: ${bad.join('; ')}`);
  return [...ok];
}

export const responseRoutes: Route[] = [
  { method: 'GET', path: '/api/block', handle: async ({ ctx }) => json(200, { blocks: await ctx.emergency.list() }) },
  {
    method: 'POST',
    path: '/api/block',
    body: true,
    handle: async ({ ctx, body, remote, query }) => {
      const startedAt = Date.now();
      const wait = wantsWait(query);
      const p = blockBody.safeParse(body);
      if (!p.success) throw badRequest(zodDetail(p.error));
      const names = normaliseAll(p.data.names);
      let expiresAt: number | null = null;
      if (p.data.expiresIn !== undefined) {
        const s = parseExpiresIn(p.data.expiresIn);
        if (typeof s === 'string') throw badRequest(`expiresIn: ${s}`);
        expiresAt = Date.now() + s * 1000;
      }
      const added = await ctx.emergency.add(names, p.data.reason, expiresAt, actor(remote));
      return json(201, { added, ...(await propagationFor(ctx, wait, startedAt)) });
    },
  },
  {
    method: 'DELETE',
    path: '/api/block/{name}',
    handle: async ({ ctx, params, remote, query }) => {
      const startedAt = Date.now();
      const wait = wantsWait(query);
      const n = normalizeDomain(params.name!);
      if (!n.ok) throw badRequest(`not a valid name: ${n.reason}`);
      if (!(await ctx.emergency.remove(n.name, actor(remote)))) throw notFound(`no emergency block for "${n.name}"`);
      return json(200, { removed: n.name, ...(await propagationFor(ctx, wait, startedAt)) });
    },
  },
  { method: 'GET', path: '/api/marks', handle: async ({ ctx }) => json(200, { marks: await ctx.marks.list() }) },
  { method: 'GET', path: '/api/quarantine', handle: async ({ ctx }) => json(200, { clients: await ctx.quarantine.list() }) },
  {
    method: 'DELETE',
    path: '/api/quarantine/{client}',
    handle: async ({ ctx, params, remote }) => {
      const who = quarantineSelector(params.client!);
      if (who === null) throw badRequest(`expected a client IP address, MAC address or name, got "${params.client}"`);
      if (!(await ctx.quarantine.release(who, actor(remote)))) throw notFound(`client ${who} is not quarantined`);
      return json(200, { released: who });
    },
  },
  {
    method: 'GET',
    path: '/api/events',
    handle: async ({ ctx, query }) => {
      const rawSince = query.get('since');
      let since = 0;
      if (rawSince !== null) {
        const s = parseSince(rawSince);
        if (typeof s === 'string') throw badRequest(`since: ${s}`);
        since = s;
      }
      const rawLimit = query.get('limit');
      let limit = EVENTS_DEFAULT_LIMIT;
      if (rawLimit !== null) {
        limit = Number(rawLimit);
        if (!/^\d+$/.test(rawLimit) || limit < 1 || limit > EVENTS_MAX_LIMIT) throw badRequest(`limit: expected a whole number from 1 to ${EVENTS_MAX_LIMIT}, got "${rawLimit}"`);
      }
      const all = await ctx.events.since(since);
      const events = all.length > limit ? all.slice(0, limit) : all;
      // Oldest first: a poller continues from `next` (events sharing that exact time may repeat).
      const truncated = all.length > limit;
      return json(200, { since: new Date(since).toISOString(), count: events.length, truncated, next: truncated ? events[events.length - 1]!.time : null, events });
    },
  },
];
