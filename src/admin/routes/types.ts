// The contract between the admin server and a route: the server matches method and path, checks
// the token for mutating methods and reads the body; the route validates its input and answers.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Tickets } from '../console/tickets.js';
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
  /** The request's headers (Accept, Last-Event-ID…). */
  headers: IncomingHttpHeaders;
  /** Issues the console's stream tickets (see Route.ticket). */
  tickets: Tickets;
}

export type RouteResult =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; text: string; contentType: string; headers?: Record<string, string> }
  /** A response the route writes itself, over time (server-sent events); the server ends it when it closes. */
  | { status: number; stream: (req: IncomingMessage, res: ServerResponse) => void };

export interface Route {
  method: Method;
  /** OpenAPI-style template, e.g. /api/block/{name}; the same text keys the OpenAPI document. */
  path: string;
  /** Reads a JSON body. */
  body?: boolean;
  /** false: not part of the API's OpenAPI description (the web console's pages and files). */
  openapi?: false;
  /**
   * A GET that accepts `?ticket=` from POST /api/console/ticket in place of the bearer token
   * where reads need one: a browser's EventSource cannot send an Authorization header.
   */
  ticket?: true;
  handle(r: RouteRequest): RouteResult | Promise<RouteResult>;
}

export const json = (status: number, body: unknown): RouteResult => ({ status, json: body });
