// The contract between the admin server and a route: the server matches method and path, checks
// the token for mutating methods and reads the body; the route validates its input and answers.
import type { AdminContext } from '../context.js';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface RouteRequest {
  ctx: AdminContext;
  /** Path parameters by template name ({name} → params.name), percent-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (undefined when empty); only for routes with `body: true`. */
  body: unknown;
  /** The caller's address, for audit trails ("api 127.0.0.1"). */
  remote: string;
  /** Epoch ms c2dns started serving (AdminContext.startedAt, else when the admin server started). */
  startedAt: number;
}

export type RouteResult =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; text: string; contentType: string };

export interface Route {
  method: Method;
  /** OpenAPI-style template, e.g. /api/block/{name}; the same text keys the OpenAPI document. */
  path: string;
  /** Reads a JSON body. */
  body?: boolean;
  handle(r: RouteRequest): RouteResult | Promise<RouteResult>;
}

export const json = (status: number, body: unknown): RouteResult => ({ status, json: body });
