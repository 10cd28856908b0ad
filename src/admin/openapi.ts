// The OpenAPI 3.1 description of the admin listener, written by hand next to the routes it
// describes. test/admin/api.test.ts checks that it names exactly the routes the server answers.
import { ADMIN_TOKEN_ENV } from './config.js';
import { MAX_BODY_BYTES, MAX_EXPIRY_SECONDS } from './http.js';
import { MAX_STREAMS, QUERIES_MAX_LIMIT, STREAM_BACKLOG, STREAM_MAX_PER_SECOND } from './routes/console.js';
import { EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT } from './routes/response.js';
import { TICKET_TTL_MS } from './console/tickets.js';
import { WINDOWS } from './console/views.js';

type Schema = Record<string, unknown>;

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security?: Record<string, string[]>[];
  parameters?: Schema[];
  requestBody?: Schema;
  responses: Record<string, Schema>;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: Schema;
  servers: Schema[];
  tags: Schema[];
  paths: Record<string, Partial<Record<'get' | 'post' | 'delete', OpenApiOperation>>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, Schema>; responses: Record<string, Schema> };
}

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const nullable = (type: string, description?: string, extra: Schema = {}): Schema => ({ type: [type, 'null'], ...extra, ...(description ? { description } : {}) });
const int: Schema = { type: 'integer', minimum: 0 };
const time = (description: string): Schema => ({ type: 'string', format: 'date-time', description });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({ type: 'object', properties, required });

const jsonContent = (schema: Schema): Schema => ({ 'application/json': { schema } });
const ok = (description: string, schema: Schema): Schema => ({ description, content: jsonContent(schema) });
const r = (name: string): Schema => ({ $ref: `#/components/responses/${name}` });

/** Responses every request can get: a caller outside admin.allow (403), a Host header naming another host (421). */
const access = { '403': r('Forbidden'), '421': r('MisdirectedRequest') };
/** Responses every /api call can give besides its own (the token: always for changes, for reads when the listener is not on loopback). */
const api = { ...access, '401': r('Unauthorized') };
const withBody = { '400': r('BadRequest'), '413': r('PayloadTooLarge'), '415': r('UnsupportedMediaType') };
/** POST and DELETE: the bearer token, always. */
const bearer = [{ bearerAuth: [] }];
/** /api reads: the bearer token when the listener is not bound to loopback, none on loopback. */
const bearerOffLoopback: Record<string, string[]>[] = [{ bearerAuth: [] }, {}];
/** The console's live stream: the bearer token or a ticket when reads need the token, nothing on loopback. */
const bearerOrTicketOffLoopback: Record<string, string[]>[] = [{ bearerAuth: [] }, { consoleTicket: [] }, {}];
const windowParam: Schema = { name: 'window', in: 'query', required: false, schema: { enum: Object.keys(WINDOWS), default: '1h' } };
const tailFilters: Schema[] = [
  { name: 'client', in: 'query', required: false, description: 'Part of the client address, MAC or name (case-insensitive)', schema: { type: 'string', maxLength: 256 } },
  { name: 'name', in: 'query', required: false, description: 'Part of the query name (case-insensitive)', schema: { type: 'string', maxLength: 256 } },
  { name: 'action', in: 'query', required: false, schema: { enum: ['blocked', 'local-data', 'allowed', 'cached', 'refused', 'servfail', 'formerr', 'notimp', 'local'] } },
  { name: 'list', in: 'query', required: false, description: 'The list of the deciding rule ("emergency" for emergency blocks)', schema: { type: 'string', maxLength: 256 } },
];
/** /healthz, /readyz, /metrics: no token, only admin.allow and the Host check. */
const open: Record<string, string[]>[] = [];

const pathParam = (name: string, description: string, example: string): Schema => ({ name, in: 'path', required: true, description, schema: { type: 'string' }, example });
/** ?wait=1 on the emergency-block changes: wait for the fleet's acknowledgements (cluster.ackTimeoutMs at most). */
const waitParam: Schema = {
  name: 'wait',
  in: 'query',
  required: false,
  description:
    'In a fleet (config `cluster`): wait until every live instance acknowledged the change with the policy version it serves, ' +
    'or cluster.ackTimeoutMs, and report it as `propagation`. On a single instance `propagation` is null (the change is live when the answer comes)',
  schema: { enum: ['1', '0', 'true', 'false'] },
};
const propagation: Schema = { oneOf: [ref('Propagation'), { type: 'null' }], description: 'Only with ?wait=1' };

export const OPENAPI: OpenApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'c2dns admin API',
    version: '1',
    description:
      'Metrics, health probes and incident-response controls of a c2dns resolver. Every request must come from a network in ' +
      'admin.allow (else 403) and name this listener in its Host header: an IP address, localhost, or a name in admin.hosts ' +
      '(else 421; this stops DNS rebinding); a browser request from a page of another origin (Origin header) is refused (403). ' +
      `POST and DELETE need "Authorization: Bearer TOKEN" with the token from admin.token or ${ADMIN_TOKEN_ENV}, and a body ` +
      'declared "Content-Type: application/json" (else 415); so does every GET under /api when the listener is not bound to ' +
      'loopback, unless admin.consoleAuth is none. /healthz, /readyz and /metrics never need the token. The web console\'s pages ' +
      '(/, /queries, /clients, /act, /assets/*) are not described here: they hold no data and are drawn from /api/console/*. ' +
      'Errors are JSON {error, detail}: error is a short stable code, detail says what was wrong.',
  },
  servers: [{ url: 'http://127.0.0.1:9553', description: 'default admin.listen' }],
  tags: [
    { name: 'probes', description: 'Liveness, readiness and Prometheus metrics' },
    { name: 'status', description: 'State of the resolver' },
    { name: 'lists', description: 'Block and allow lists' },
    { name: 'response', description: 'Incident response: emergency blocks, quarantine, security events' },
    { name: 'log', description: 'The query log file' },
    { name: 'config', description: 'The running configuration' },
    { name: 'console', description: 'What the web console is drawn from: overview, live queries, clients' },
  ],
  paths: {
    '/healthz': {
      get: {
        operationId: 'healthz',
        summary: 'Liveness: 200 whenever the process is running and answering',
        tags: ['probes'],
        security: open,
        responses: { '200': ok('The process is alive', obj({ status: { const: 'ok' } })), ...access },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readyz',
        summary: 'Readiness: every list loaded and at least one upstream healthy',
        description:
          'A list is loaded when it has a usable copy (fresh or the last good one from disk). An upstream is unhealthy while it is ' +
          'penalised after a timeout, or when it timed out within admin.upstreamWindowSeconds and gave no reply in that time; one ' +
          'that has not been asked yet counts as healthy. Stale lists are reported but do not make c2dns unready. In a fleet (config `cluster`), ' +
          '`fleet` reports the link to Redis: losing it degrades the fleet (local state served) but never makes c2dns unready.',
        tags: ['probes'],
        security: open,
        responses: {
          '200': ok('Ready', ref('ReadinessReport')),
          '503': ok('Not ready; `problems` says why', ref('ReadinessReport')),
          ...access,
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        tags: ['probes'],
        security: open,
        responses: { '200': { description: 'Every c2dns_* metric', content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } } }, ...access },
      },
    },
    '/api/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        tags: ['status'],
        security: bearerOffLoopback,
        responses: { '200': ok('OpenAPI 3.1 document', { type: 'object' }), ...api },
      },
    },
    '/api/status': {
      get: {
        operationId: 'status',
        summary: 'Version, uptime, readiness, traffic totals, lists, upstreams, cache and incident state',
        tags: ['status'],
        security: bearerOffLoopback,
        responses: { '200': ok('Current status', ref('Status')), ...api },
      },
    },
    '/api/lists': {
      get: {
        operationId: 'listLists',
        summary: 'Every configured list: origin (secrets redacted), counts, last success/failure, staleness',
        tags: ['lists'],
        security: bearerOffLoopback,
        responses: { '200': ok('The lists', obj({ lists: { type: 'array', items: ref('ListInfo') } })), ...api },
      },
    },
    '/api/lists/refresh': {
      post: {
        operationId: 'refreshLists',
        summary: 'Refresh lists now (all when no names are given) and wait for the outcome',
        tags: ['lists'],
        security: bearer,
        requestBody: {
          required: false,
          content: jsonContent({ type: 'object', additionalProperties: false, properties: { names: { type: 'array', items: { type: 'string' }, maxItems: 1000 } } }),
        },
        responses: {
          '200': ok(
            'One outcome per refreshed list',
            obj({
              results: {
                type: 'array',
                items: obj({
                  list: str(),
                  outcome: { enum: ['updated', 'unchanged', 'failed'] },
                  failure: nullable('object', 'Why the update was rejected (the previous rules stay)', { properties: { reason: str(), message: str() } }),
                }),
              },
            }),
          ),
          ...withBody,
          ...api,
        },
      },
    },
    '/api/check': {
      get: {
        operationId: 'check',
        summary: 'What c2dns does with a name, and which list and rule decide it (as `c2dns check`)',
        tags: ['lists'],
        security: bearerOffLoopback,
        parameters: [
          { name: 'name', in: 'query', required: true, schema: { type: 'string' }, example: 'cdn.msstorageazure.com' },
          { name: 'group', in: 'query', required: false, schema: { type: 'string' }, description: "Decide with this policy group's lists and action (config `groups`); default: the default group", example: 'servers' },
        ],
        responses: { '200': ok('The decision', ref('CheckResult')), '400': r('BadRequest'), ...api },
      },
    },
    '/api/block': {
      get: {
        operationId: 'listBlocks',
        summary: 'Emergency blocks in force',
        tags: ['response'],
        security: bearerOffLoopback,
        responses: { '200': ok('The blocks', obj({ blocks: { type: 'array', items: ref('EmergencyEntry') } })), ...api },
      },
      post: {
        operationId: 'addBlocks',
        summary: 'Block names (and their subdomains) at once, optionally for a limited time',
        tags: ['response'],
        security: bearer,
        requestBody: {
          required: true,
          content: jsonContent({
            type: 'object',
            additionalProperties: false,
            required: ['names', 'reason'],
            properties: {
              names: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 1000, description: 'Domain names; all must be valid or nothing is added' },
              reason: { type: 'string', minLength: 1, maxLength: 500, description: 'Why (incident, ticket, source); kept with the block' },
              expiresIn: {
                oneOf: [
                  { type: 'string', pattern: '^\\d+[smhd]?$', examples: ['30m', '1h', '7d'] },
                  { type: 'integer', minimum: 1, maximum: MAX_EXPIRY_SECONDS },
                ],
                description: 'How long the block lasts: seconds, or a number with unit s, m, h or d (at most 365 days). Absent: until removed',
              },
            },
          }),
        },
        parameters: [waitParam],
        responses: { '201': ok('The blocks as stored', obj({ added: { type: 'array', items: ref('EmergencyEntry') }, propagation }, ['added'])), ...withBody, ...api },
      },
    },
    '/api/block/{name}': {
      delete: {
        operationId: 'removeBlock',
        summary: 'Remove an emergency block',
        tags: ['response'],
        security: bearer,
        parameters: [pathParam('name', 'The blocked name', 'msstorageazure.com'), waitParam],
        responses: { '200': ok('Removed', obj({ removed: str(), propagation }, ['removed'])), '400': r('BadRequest'), '404': r('NotFound'), ...api },
      },
    },
    '/api/fleet': {
      get: {
        operationId: 'fleet',
        summary: 'The fleet (config `cluster`): every instance, its policy and emergency-block versions, the version of each list, its last heartbeat',
        description:
          'Instances write a heartbeat to Redis every cluster.heartbeatSeconds; one that missed three is listed with alive false (for a day). ' +
          'Lists are fetched by each instance: a live instance serving an older version of a list than another live instance is flagged ' +
          '(`behind`, `flagged`, and the list in `drift`). The newest version of a list is the one the fleet first saw most recently. ' +
          'When Redis is unreachable only this instance is listed (connected false). 404 on a single instance.',
        tags: ['response'],
        security: bearerOffLoopback,
        responses: { '200': ok('The fleet', ref('FleetView')), '404': r('NotFound'), ...api },
      },
    },
    '/api/marks': {
      get: {
        operationId: 'listMarks',
        summary: 'Clients marked by watch lists (device posture by DNS)',
        tags: ['response'],
        security: bearerOffLoopback,
        responses: {
          '200': ok(
            'The marks',
            obj({ marks: { type: 'array', items: obj({ client: str(), mark: str(), list: str(), name: str(), since: str(), lastSeen: str(), count: { type: 'integer' } }) } }),
          ),
          ...api,
        },
      },
    },
    '/api/quarantine': {
      get: {
        operationId: 'listQuarantine',
        summary: 'Clients quarantined now',
        tags: ['response'],
        security: bearerOffLoopback,
        responses: { '200': ok('The clients', obj({ clients: { type: 'array', items: ref('QuarantineEntry') } })), ...api },
      },
    },
    '/api/quarantine/{client}': {
      delete: {
        operationId: 'releaseClient',
        summary: 'Release a quarantined client',
        tags: ['response'],
        security: bearer,
        parameters: [pathParam('client', 'Client IP address (IPv6 may be percent-encoded), MAC address (aa:bb:cc:dd:ee:ff) or name (clients.names)', '192.168.1.23')],
        responses: { '200': ok('Released', obj({ released: str() })), '400': r('BadRequest'), '404': r('NotFound'), ...api },
      },
    },
    '/api/events': {
      get: {
        operationId: 'events',
        summary: 'Security events, oldest first',
        tags: ['response'],
        security: bearerOffLoopback,
        parameters: [
          {
            name: 'since',
            in: 'query',
            required: false,
            description: 'ISO 8601 time, or Unix seconds (values of 10^11 and more are taken as milliseconds). Default: everything kept',
            schema: { type: 'string' },
            example: '2026-01-31T12:00:00Z',
          },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: EVENTS_MAX_LIMIT, default: EVENTS_DEFAULT_LIMIT } },
        ],
        responses: {
          '200': ok(
            'Events at or after `since`; when truncated, continue with since=next',
            obj({
              since: time('The start actually used'),
              count: int,
              truncated: { type: 'boolean' },
              next: nullable('string', 'Time of the last event returned, when truncated'),
              events: { type: 'array', items: ref('SecurityEvent') },
            }),
          ),
          '400': r('BadRequest'),
          ...api,
        },
      },
    },
    '/api/log/reopen': {
      post: {
        operationId: 'reopenLog',
        summary: 'Reopen the query log file after logrotate moved it (the same as SIGUSR1)',
        description:
          'Lines written so far stay in the moved file; later ones go to a new file at log.destination. With the log on stdout or ' +
          'off there is nothing to reopen: 200 with reopened false. When the new file cannot be opened the answer is 500 ' +
          'log_reopen_failed and lines keep going to the moved file.',
        tags: ['log'],
        security: bearer,
        responses: {
          '200': ok('Reopened, or nothing to reopen', obj({ reopened: { type: 'boolean' }, destination: str('log.destination: "stdout" or the file path'), detail: str() })),
          '500': ok('The new file could not be opened (log_reopen_failed)', ref('Error')),
          ...api,
        },
      },
    },
    '/api/reload': {
      post: {
        operationId: 'reloadConfig',
        summary: 'Read the configuration file again and apply it without dropping queries (the same as SIGHUP, before its list refresh)',
        description:
          'The file the server was started with is read with the same command-line overrides and validated as at start-up (schema, ' +
          'log destination, directories, list sources). Lists, upstreams, access, blocking, groups, clients, quarantine, rate limits, ' +
          'local records, alert sinks, the log level and listen addresses are applied; keys that only a restart applies are listed in ' +
          'needsRestart (the running value stays). An invalid file keeps the running configuration: 422 config_invalid with the reason. ' +
          'A valid file of which a part could not be applied (a listen address taken): 500 reload_failed, the parts in applied are running.',
        tags: ['config'],
        security: bearer,
        responses: {
          '200': ok('Applied', ref('ConfigReload')),
          '422': ok('The file was refused (config_invalid): error and detail say why; nothing changed', ref('ConfigReload')),
          '500': ok('Applied in part (reload_failed)', ref('ConfigReload')),
          '404': r('NotFound'),
          ...api,
        },
      },
    },
    '/api/console/overview': {
      get: {
        operationId: 'consoleOverview',
        summary: 'The Overview page: queries per minute over the last hour, C2 hits of the last 24 hours, quarantine, lists, upstreams',
        tags: ['console'],
        security: bearerOffLoopback,
        responses: { '200': ok('The overview', ref('ConsoleOverview')), '404': r('NotFound'), ...api },
      },
    },
    '/api/console/queries': {
      get: {
        operationId: 'consoleQueries',
        summary: 'Recent queries from the console\'s in-memory ring, newest first, with the reason of their decision',
        tags: ['console'],
        security: bearerOffLoopback,
        parameters: [
          ...tailFilters,
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: QUERIES_MAX_LIMIT, default: 100 } },
          { name: 'after', in: 'query', required: false, description: 'Only queries with a larger id', schema: { type: 'integer', minimum: 0 } },
        ],
        responses: {
          '200': ok('The queries', obj({ lastId: { type: 'integer', description: 'Id of the latest query seen' }, queries: { type: 'array', items: ref('TailEntry') } })),
          '400': r('BadRequest'),
          '404': r('NotFound'),
          ...api,
        },
      },
    },
    '/api/console/stream': {
      get: {
        operationId: 'consoleStream',
        summary: 'Live queries as server-sent events (the Queries page)',
        description:
          `Events: hello (once), query (a TailEntry, with its id as the event id; first the newest ${STREAM_BACKLOG} matching ones after ` +
          '`after` or Last-Event-ID, oldest first), dropped ({dropped: n}: queries not sent because more than ' +
          `${STREAM_MAX_PER_SECOND} a second matched or the client read too slowly). At most ${MAX_STREAMS} streams at once. ` +
          'Where reads need the token, a browser passes a ticket from POST /api/console/ticket as ?ticket= (EventSource cannot send headers).',
        tags: ['console'],
        security: bearerOrTicketOffLoopback,
        parameters: [
          ...tailFilters,
          { name: 'after', in: 'query', required: false, description: 'Replay only queries with a larger id', schema: { type: 'integer', minimum: 0 } },
          { name: 'ticket', in: 'query', required: false, description: 'A ticket from POST /api/console/ticket (single use)', schema: { type: 'string' } },
        ],
        responses: {
          '200': { description: 'The stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          '400': r('BadRequest'),
          '404': r('NotFound'),
          '406': ok('Accept does not include text/event-stream (not_acceptable)', ref('Error')),
          '429': ok(`${MAX_STREAMS} streams are open already (too_many_requests)`, ref('Error')),
          ...api,
        },
      },
    },
    '/api/console/ticket': {
      post: {
        operationId: 'consoleTicket',
        summary: `A single-use ticket that opens /api/console/stream once within ${TICKET_TTL_MS / 1000} s`,
        tags: ['console'],
        security: bearer,
        responses: {
          '201': ok('The ticket', obj({ ticket: str('Pass as ?ticket='), expiresAt: time('It opens no stream after this') })),
          '404': r('NotFound'),
          '415': r('UnsupportedMediaType'),
          ...api,
        },
      },
    },
    '/api/console/clients': {
      get: {
        operationId: 'consoleClients',
        summary: 'Top clients and top blocked names over a window, from the query history (else from the in-memory ring)',
        tags: ['console'],
        security: bearerOffLoopback,
        parameters: [windowParam],
        responses: { '200': ok('The summary', ref('ConsoleClients')), '400': r('BadRequest'), '404': r('NotFound'), ...api },
      },
    },
    '/api/console/clients/{client}': {
      get: {
        operationId: 'consoleClientTimeline',
        summary: 'One client: identity, quarantine, marks, and what it asked in the window (newest first)',
        tags: ['console'],
        security: bearerOffLoopback,
        parameters: [pathParam('client', 'Client IP address, or the MAC address or name it was last seen with', '192.168.1.23'), windowParam],
        responses: { '200': ok('The timeline', ref('ConsoleTimeline')), '400': r('BadRequest'), '404': r('NotFound'), ...api },
      },
    },
  },
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: `admin.token or ${ADMIN_TOKEN_ENV}` },
      consoleTicket: { type: 'apiKey', in: 'query', name: 'ticket', description: 'From POST /api/console/ticket; single use, short-lived' },
    },
    responses: {
      BadRequest: ok('Invalid parameters or body', ref('Error')),
      NotFound: ok('No such route or entry', ref('Error')),
      Unauthorized: ok('Missing or wrong bearer token', ref('Error')),
      Forbidden: ok('The caller is not in admin.allow; or a browser page of another origin sent it; or no admin token is configured, so calls that need one are refused', ref('Error')),
      MisdirectedRequest: ok('The Host header names neither an IP address, localhost, nor a name in admin.hosts (DNS rebinding protection)', ref('Error')),
      PayloadTooLarge: ok(`Body over ${MAX_BODY_BYTES} bytes`, ref('Error')),
      UnsupportedMediaType: ok('A change whose Content-Type is not application/json, or a body without a Content-Type', ref('Error')),
    },
    schemas: {
      Error: obj({
        error: str(
          'Short stable code: bad_request, not_found, method_not_allowed, not_acceptable, unauthorized, forbidden, misdirected_request, payload_too_large, unsupported_media_type, too_many_requests, log_reopen_failed, config_invalid, reload_failed, internal_error',
        ),
        detail: str('What was wrong'),
      }),
      ConfigReload: obj(
        {
          result: { enum: ['ok', 'invalid', 'failed'] },
          problem: nullable('string', 'Why the file was refused or what failed; null when ok'),
          error: nullable('string', 'null when ok; else config_invalid or reload_failed (detail says why)'),
          applied: { type: 'array', items: str(), description: 'Changed keys applied to the running server' },
          needsRestart: { type: 'array', items: str(), description: 'Changed keys that only take effect after a restart' },
          listen: obj({ added: { type: 'array', items: str() }, removed: { type: 'array', items: str() } }),
          lists: nullable('object', 'Lists added, removed, changed, and URL lists with no copy yet; null when the lists did not change', {
            properties: { added: { type: 'array', items: str() }, removed: { type: 'array', items: str() }, changed: { type: 'array', items: str() }, failed: { type: 'array', items: str() } },
          }),
          detail: str('With an error: what was wrong, for humans'),
        },
        ['result', 'problem', 'error', 'applied', 'needsRestart', 'listen', 'lists'],
      ),
      ListStatus: obj({
        list: str(),
        loaded: { type: 'boolean' },
        entries: int,
        lastSuccess: nullable('string', 'ISO 8601', { format: 'date-time' }),
        fromLastGood: { type: 'boolean', description: 'The rules come from the disk copy' },
        stale: { type: 'boolean' },
        staleThresholdSeconds: nullable('integer'),
        lastFailure: nullable('object', 'Latest rejected update', { properties: { at: str(), reason: str(), message: str() } }),
        diskCopyStale: nullable('object', 'The rules served are newer than the last good copy on disk, which could not be saved (a full disk): since when and why; null when current', {
          properties: { since: str(), problem: str() },
        }),
      }),
      ListInfo: {
        allOf: [
          ref('ListStatus'),
          obj({
            kind: { enum: ['block', 'allow'] },
            format: str('Configured format'),
            detectedFormat: nullable('string'),
            origin: str('Path, or URL with user info and query values redacted'),
            tags: { type: 'array', items: str() },
            rejectedLines: int,
            guarded: int,
            notEnforceable: int,
            ips: int,
            unsupportedRules: int,
            unsupportedExamples: { type: 'array', items: obj({ line: int, text: str(), reason: str() }) },
            sha256: nullable('string'),
          }),
        ],
      },
      UpstreamStatus: obj({
        upstream: str('host:port'),
        healthy: { type: 'boolean' },
        reason: nullable('string', 'Why it is unhealthy'),
        penalisedForMs: int,
        lastResponse: nullable('string', 'ISO 8601'),
        lastTimeout: nullable('string', 'ISO 8601'),
        requests: int,
        responses: int,
        timeouts: int,
        errors: int,
        latencyMs: nullable('number', 'Average exchange time in ms (exponentially weighted), null until measured'),
        downSince: nullable('string', 'ISO 8601: when it went down (timeout or network error); null while up'),
        probes: obj({ sent: int, ok: int, failed: int }),
        lastProbe: nullable('string', 'ISO 8601: the last probe of this upstream while it was down'),
        lastProbeOk: nullable('boolean', 'Whether the last probe brought it back'),
      }),
      ReadinessReport: obj(
        {
          ready: { type: 'boolean' },
          problems: { type: 'array', items: str() },
          degraded: { type: 'array', items: str('Ready, with a promise kept in part: a list disk copy that could not be saved, a state directory that could not be used, query history records lost') },
          lists: { type: 'array', items: ref('ListStatus') },
          upstreams: { type: 'array', items: ref('UpstreamStatus') },
          fleet: ref('FleetReadiness'),
        },
        ['ready', 'problems', 'degraded', 'lists', 'upstreams'],
      ),
      FleetReadiness: obj({
        instance: str('This instance\'s name in the fleet'),
        redis: str('The Redis URL without its password'),
        connected: { type: 'boolean', description: 'false: degraded, not unready — the last known fleet state is served and changes made here are shared when Redis is back' },
        since: time('Since when connected or not'),
        problem: nullable('string', 'Why the link is degraded'),
        emergencyVersion: { ...int, description: 'The fleet\'s emergency-block version applied here' },
        lastSync: nullable('string', 'ISO 8601 of the last successful exchange with Redis'),
      }),
      Propagation: obj({
        version: nullable('integer', 'The fleet\'s emergency-block version carrying the change; null when Redis was unreachable (applied here only, shared when it is back)'),
        complete: { type: 'boolean', description: 'Every instance alive at the change acknowledged it in time' },
        expected: int,
        applied: int,
        elapsedMs: int,
        instances: {
          type: 'array',
          items: obj({ instance: str(), acked: { type: 'boolean' }, policyVersion: nullable('integer', 'The policy version it serves with the change'), ms: nullable('integer', 'Milliseconds to its acknowledgement') }),
        },
        missing: { type: 'array', items: str(), description: 'Instances that did not acknowledge within cluster.ackTimeoutMs' },
        summary: str('e.g. "applied on 3/3 instances in 140 ms"'),
      }),
      FleetView: obj({
        instance: str('The instance that answered'),
        redis: str(),
        connected: { type: 'boolean' },
        heartbeatSeconds: int,
        emergencyVersion: int,
        instances: {
          type: 'array',
          items: obj({
            instance: str(),
            self: { type: 'boolean' },
            alive: { type: 'boolean', description: 'Its heartbeat is current' },
            host: str(),
            pid: int,
            version: str('c2dns version'),
            startedAt: time('When it started'),
            lastHeartbeat: time('Its last heartbeat'),
            heartbeatAgeSeconds: int,
            policyVersion: int,
            emergencyVersion: int,
            emergencyBlocks: int,
            quarantined: int,
            lists: {
              type: 'array',
              items: obj({
                list: str(),
                sha256: nullable('string', 'sha256 of the last good copy it serves'),
                entries: int,
                lastSuccess: nullable('string', 'ISO 8601'),
                versionSeen: nullable('string', 'ISO 8601: when the fleet first saw this version'),
                behind: { type: 'boolean', description: 'Another live instance serves a newer version' },
              }),
            },
            behind: { type: 'array', items: str(), description: 'Lists it serves an older version of' },
            flagged: { type: 'boolean' },
          }),
        },
        drift: { type: 'array', items: obj({ list: str(), newest: str('sha256'), newestSeen: nullable('string'), behind: { type: 'array', items: str() } }) },
      }),
      Status: obj({
        version: str(),
        node: str(),
        startedAt: time('When c2dns started'),
        uptimeSeconds: int,
        ready: { type: 'boolean' },
        problems: { type: 'array', items: str() },
        queries: obj({
          total: int,
          byAction: { type: 'object', additionalProperties: int },
          byRcode: { type: 'object', additionalProperties: int },
          truncated: int,
        }),
        packets: obj({ malformed: int, dropped: int, internalErrors: int }),
        lists: obj({ configured: int, loaded: int, stale: { type: 'array', items: str() }, entries: int }),
        upstreams: { type: 'array', items: ref('UpstreamStatus') },
        cache: nullable('object', 'null when the cache is disabled', { properties: { entries: int, hits: int, misses: int } }),
        emergencyBlocks: int,
        quarantinedClients: int,
      }),
      CheckResult: obj(
        {
          name: str(),
          decision: { enum: ['blocked', 'allowed', 'not listed'] },
          list: str(),
          rule: str(),
          ruleKind: { enum: ['block', 'allow'] },
          match: str(),
          line: int,
          ref: nullable('string'),
          tags: { type: 'array', items: str() },
          firstSeen: str(),
          expires: nullable('string'),
          action: str(),
          guard: { type: 'array', items: obj({ list: str(), entry: str(), line: int, reason: str(), fromUrl: str() }, ['list', 'entry', 'line', 'reason']) },
        },
        ['name', 'decision', 'guard'],
      ),
      EmergencyEntry: obj({ name: str(), reason: str(), addedAt: time('When it was added'), expiresAt: nullable('string', 'ISO 8601; null: until removed'), actor: str('Who added it') }),
      QuarantineEntry: obj({
        client: str('Who is quarantined: the MAC address when a trusted forwarder gave one, else the IP address'),
        reason: str(),
        since: time('When the quarantine began'),
        until: nullable('string', 'ISO 8601; null: until released'),
        address: str('The IP address it had'),
        mac: nullable('string', 'Its MAC address, from a trusted forwarder'),
        name: nullable('string', 'Its name (clients.names)'),
        via: nullable('string', 'The trusted forwarder that spoke for it'),
      }),
      TailEntry: obj({
        id: { type: 'integer', description: 'Increases by one per query' },
        time: time('When it was answered'),
        client: str('The real client address'),
        mac: nullable('string'),
        clientName: nullable('string'),
        via: nullable('string', 'The trusted forwarder that spoke for the client'),
        transport: str('udp, tcp, dot (DNS over TLS) or doh (DNS over HTTPS)'),
        qname: str(),
        qtype: str(),
        action: str(),
        rcode: str('"none" when nothing was sent'),
        latencyMs: { type: 'number' },
        upstream: nullable('string'),
        decidedBy: nullable('string', 'list, watch, emergency, quarantine or access'),
        verdict: nullable('string'),
        trigger: nullable('string'),
        list: nullable('string'),
        rule: nullable('string'),
        chain: { type: 'array', items: str() },
        reason: nullable('string', 'The decision as text, e.g. list=3cx rule=msstorageazure.com trigger=cname chain=a.example>cdn.msstorageazure.com'),
      }),
      ConsoleOverview: obj({
        now: time('When it was computed'),
        version: str(),
        ready: { type: 'boolean' },
        problems: { type: 'array', items: str() },
        traffic: obj({
          series: obj({ start: int, queries: { type: 'array', items: int }, blocked: { type: 'array', items: int } }),
          sparkline: obj({ width: int, height: int, max: int, queries: str('SVG polyline points'), blocked: str('SVG polyline points') }),
          lastHour: obj({ queries: int, blocked: int, blockedPercent: { type: 'number' }, perSecond: { type: 'number' } }),
          lastMinute: obj({ queries: int, perSecond: { type: 'number' } }),
          sinceStart: obj({ queries: int, blocked: int }),
        }),
        c2Hits: {
          type: 'array',
          items: obj({
            time: str(),
            lastSeen: str(),
            client: nullable('string'),
            identity: nullable('string'),
            name: str(),
            list: str(),
            rule: str(),
            trigger: str(),
            chain: { type: 'array', items: str() },
            count: int,
          }),
        },
        quarantine: { type: 'array', items: ref('QuarantineEntry') },
        lists: { type: 'array', items: ref('ListStatus') },
        upstreams: { type: 'array', items: ref('UpstreamStatus') },
      }),
      ConsoleClients: obj({
        window: str(),
        since: str(),
        until: str(),
        source: { enum: ['history', 'memory'], description: 'history: every query of the window on disk; memory: the ring of recent queries (history.enabled: false)' },
        note: str('What the numbers cover'),
        records: int,
        clients: int,
        topClients: { type: 'array', items: obj({ client: str(), queries: int, blocked: int, mac: nullable('string'), clientName: nullable('string') }) },
        topBlocked: { type: 'array', items: obj({ name: str(), queries: int, clients: int }) },
      }),
      ConsoleTimeline: obj({
        client: str(),
        window: str(),
        source: { enum: ['history', 'memory'] },
        note: str(),
        identity: nullable('object', 'What the console saw of it since c2dns started', { properties: { mac: {}, clientName: {}, via: {}, firstSeen: {}, lastSeen: {}, queries: {}, blocked: {} } }),
        quarantine: { oneOf: [ref('QuarantineEntry'), { type: 'null' }] },
        marks: { type: 'array', items: { type: 'object' } },
        timeline: {
          type: 'array',
          items: obj({ time: str(), name: str(), qtype: str(), action: str(), rcode: str(), answer: nullable('string'), reason: nullable('string') }),
        },
      }),
      SecurityEvent: obj({
        time: time('When it happened'),
        kind: str('e.g. blocked-query, quarantined, emergency-block'),
        client: nullable('string', 'Client IP address'),
        message: str(),
        details: { type: 'object', additionalProperties: true },
      }),
    },
  },
};
