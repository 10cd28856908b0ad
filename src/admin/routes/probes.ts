// Probes and scrapes: liveness, readiness, Prometheus metrics, and the API description.
import { OPENAPI } from '../openapi.js';
import { json, type Route } from './types.js';

export const probeRoutes: Route[] = [
  // Liveness: answering at all means the event loop runs; nothing else is checked, so a restart
  // is never triggered by a feed or an upstream being down.
  { method: 'GET', path: '/healthz', handle: () => json(200, { status: 'ok' }) },
  {
    method: 'GET',
    path: '/readyz',
    handle: ({ ctx }) => {
      const r = ctx.readiness();
      return json(r.ready ? 200 : 503, r);
    },
  },
  {
    method: 'GET',
    path: '/metrics',
    handle: async ({ ctx }) => ({ status: 200, text: await ctx.metrics.render(), contentType: ctx.metrics.contentType }),
  },
  { method: 'GET', path: '/api/openapi.json', handle: () => json(200, OPENAPI) },
];
