// Every route the admin server answers; the OpenAPI document must describe exactly those of
// API_ROUTES, i.e. all but the web console's pages and files (test/admin/api.test.ts checks both
// directions).
import { consoleRoutes } from './console.js';
import { fleetRoutes } from './fleet.js';
import { listRoutes } from './lists.js';
import { logRoutes } from './log.js';
import { probeRoutes } from './probes.js';
import { reloadRoutes } from './reload.js';
import { responseRoutes } from './response.js';
import { statusRoute } from './status.js';
import type { Route } from './types.js';

export const ROUTES: readonly Route[] = [...probeRoutes, statusRoute, ...listRoutes, ...responseRoutes, ...fleetRoutes, ...logRoutes, ...reloadRoutes, ...consoleRoutes];

/** The routes the OpenAPI document describes. */
export const API_ROUTES: readonly Route[] = ROUTES.filter((r) => r.openapi !== false);
