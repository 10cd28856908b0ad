// The query log: reopen the file after logrotate moved it (the same as SIGUSR1).
import { HttpError } from '../http.js';
import { json, type Route } from './types.js';

export const logRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/log/reopen',
    handle: async ({ ctx }) => {
      try {
        return json(200, await ctx.reopenLog());
      } catch (err) {
        throw new HttpError(500, 'log_reopen_failed', `the query log could not be reopened (lines keep going to the previous file): ${(err as Error).message}`);
      }
    },
  },
];
