// Lists: what is loaded and from where, refresh on demand, and `c2dns check` over HTTP.
import { z } from 'zod';
import type { ListConfig } from '../../config/schema.js';
import { badRequest, zodDetail } from '../http.js';
import { listStatus } from '../readiness.js';
import { json, type Route } from './types.js';

/**
 * Where a list comes from, without secrets: feed URLs often carry an API key in the user part or
 * the query string, and GET routes are not authenticated.
 */
export function redactedOrigin(c: ListConfig): string {
  if (c.url === undefined) return c.path ?? '';
  try {
    const u = new URL(c.url);
    if (u.username !== '' || u.password !== '') {
      u.username = 'redacted';
      u.password = '';
    }
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, 'redacted');
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

const refreshBody = z.object({ names: z.array(z.string().min(1)).max(1000).optional() }).strict().optional();

export const listRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/lists',
    handle: ({ ctx }) => {
      const status = listStatus(ctx.feeds.sources, ctx.staleLists());
      const lists = ctx.feeds.sources.map((s, i) => {
        const c = s.compiled;
        return {
          ...status[i]!,
          kind: s.config.kind,
          format: s.config.format,
          detectedFormat: c?.format ?? null,
          origin: redactedOrigin(s.config),
          tags: s.config.tags,
          rejectedLines: c?.report.rejected ?? 0,
          guarded: c?.guarded.length ?? 0,
          notEnforceable: c?.notEnforceable.length ?? 0,
          ips: c?.ips.length ?? 0,
          /** Rules parsed but not enforced (RPZ NSDNAME/NSIP…): counted and shown, never dropped silently. */
          unsupportedRules: c?.report.unsupported ?? 0,
          unsupportedExamples: (c?.report.unsupportedExamples ?? []).slice(0, 5),
          sha256: s.sha256,
        };
      });
      return json(200, { lists });
    },
  },
  {
    method: 'POST',
    path: '/api/lists/refresh',
    body: true,
    handle: async ({ ctx, body }) => {
      const p = refreshBody.safeParse(body);
      if (!p.success) throw badRequest(zodDetail(p.error));
      const names = p.data?.names ?? [];
      const known = new Set(ctx.feeds.sources.map((s) => s.config.name));
      const unknown = names.filter((n) => !known.has(n));
      if (unknown.length > 0) throw badRequest(`no such list: ${unknown.map((n) => JSON.stringify(n)).join(', ')}; configured: ${[...known].join(', ')}`);
      const outcomes = await ctx.feeds.refresh(names);
      ctx.metrics.sampleFeeds();
      const results = [...outcomes].map(([list, outcome]) => {
        const f = ctx.feeds.sources.find((s) => s.config.name === list)?.lastFailure ?? null;
        return { list, outcome, failure: outcome === 'failed' && f !== null ? { reason: f.reason, message: f.message } : null };
      });
      return json(200, { results });
    },
  },
  {
    method: 'GET',
    path: '/api/check',
    handle: ({ ctx, query }) => {
      const name = query.get('name');
      if (name === null || name.trim() === '') throw badRequest('the query parameter "name" is required, e.g. /api/check?name=example.com');
      const group = query.get('group');
      const r = ctx.check(name, group === null || group === '' ? undefined : group);
      if (r.decision === 'invalid') throw badRequest(`not a valid name or IP address: ${r.reason ?? 'unknown reason'}`);
      return json(200, r);
    },
  },
];
