// One page of "how is it doing": readiness, traffic totals, lists, upstreams, cache, incident state.
import { json, type Route } from './types.js';

export const statusRoute: Route = {
  method: 'GET',
  path: '/api/status',
  handle: async ({ ctx, startedAt }) => {
    const r = ctx.readiness();
    const m = ctx.metrics.summary();
    const [blocks, quarantined] = await Promise.all([ctx.emergency.list(), ctx.quarantine.list()]);
    return json(200, {
      version: ctx.metrics.version,
      node: process.version,
      startedAt: new Date(startedAt).toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      ready: r.ready,
      chain: ctx.chain,
      udp: ctx.udp?.() ?? null,
      problems: r.problems,
      queries: { total: m.queries, byAction: m.byAction, byRcode: m.byRcode, truncated: m.truncated },
      packets: { malformed: m.malformed, dropped: m.dropped, internalErrors: m.internalErrors },
      lists: {
        configured: r.lists.length,
        loaded: r.lists.filter((l) => l.loaded).length,
        stale: r.lists.filter((l) => l.stale).map((l) => l.list),
        entries: r.lists.reduce((n, l) => n + l.entries, 0),
      },
      upstreams: r.upstreams,
      cache: m.cache,
      emergencyBlocks: blocks.length,
      quarantinedClients: quarantined.length,
    });
  },
};
