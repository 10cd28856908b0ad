// Configuration reload: read the file again, validate it and apply it (as SIGHUP does first).
// An invalid file keeps the running configuration: 422 with the reason.
import { HttpError } from '../http.js';
import { json, type Route } from './types.js';

export const reloadRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/reload',
    handle: async ({ ctx, remote }) => {
      if (ctx.reload === undefined) throw new HttpError(404, 'not_found', 'this server cannot reload its configuration');
      const r = await ctx.reload(`api ${remote}`);
      if (r.result === 'ok') return json(200, { ...r, error: null });
      if (r.result === 'invalid') return json(422, { ...r, error: 'config_invalid', detail: `the configuration was not reloaded (the running one stays): ${r.problem}` });
      return json(500, { ...r, error: 'reload_failed', detail: `the configuration was applied only in part (see applied): ${r.problem}` });
    },
  },
];
