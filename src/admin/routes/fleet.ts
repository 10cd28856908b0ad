// The fleet (config `cluster`): every instance, what it serves, and which one is behind; and the
// `?wait=1` option of the emergency-block routes, which waits for every instance to acknowledge.
import type { AdminContext } from '../context.js';
import type { Propagation } from '../../fleet/types.js';
import { badRequest, notFound } from '../http.js';
import { json, type Route } from './types.js';

export const fleetRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/fleet',
    handle: async ({ ctx }) => {
      if (ctx.fleet === undefined) throw notFound('this c2dns is a single instance (no cluster section in its configuration)');
      return json(200, await ctx.fleet.view());
    },
  },
];

/** `?wait=1` (or true/yes) asks to wait for the fleet's acknowledgements; absent or 0/false does not. */
export function wantsWait(query: URLSearchParams): boolean {
  const raw = query.get('wait');
  if (raw === null) return false;
  const v = raw.toLowerCase();
  if (v === '' || v === '1' || v === 'true' || v === 'yes') return true;
  if (v === '0' || v === 'false' || v === 'no') return false;
  throw badRequest(`wait: expected 1 or 0, got "${raw}"`);
}

/**
 * With `?wait=1`: the acknowledgements of the change just made (null for a single instance, where
 * it is live once the answer comes); without: undefined (the answer carries no `propagation`).
 */
export async function propagationFor(ctx: AdminContext, wait: boolean, startedAt: number): Promise<{ propagation: Propagation | null } | Record<string, never>> {
  if (!wait) return {};
  return { propagation: ctx.fleet === undefined ? null : await ctx.fleet.confirm(startedAt) };
}
