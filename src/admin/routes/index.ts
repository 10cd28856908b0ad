// Every route the admin server answers; the OpenAPI document must describe exactly these
// (test/admin/api.test.ts checks both directions).
import { listRoutes } from './lists.js';
import { logRoutes } from './log.js';
import { probeRoutes } from './probes.js';
import { responseRoutes } from './response.js';
import { statusRoute } from './status.js';
import type { Route } from './types.js';

export const ROUTES: readonly Route[] = [...probeRoutes, statusRoute, ...listRoutes, ...responseRoutes, ...logRoutes];
