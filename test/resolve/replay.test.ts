// Replay fixtures (Unbound's testdata/*.rpl idea): each file in test/fixtures/replay/ holds a
// config, list files, a scripted upstream and a sequence of steps with the expected answers,
// upstream traffic, query-log fields, security events and admin API state. Adding a behaviour
// case is adding a YAML file.
//
// Fixture format (validated below: a typo in a fixture fails with the key's path):
//   description: what the case shows
//   config:      c2dns configuration (upstreams, the admin listener and its token are added;
//                "$TMP" in any string is replaced by a directory of the test's own)
//   files:       NAME: text, written next to the config file (list paths are relative to it)
//   upstream:    - { name, type, rcode?, answer?, authority?, additional? }, records as
//                  "name ttl TYPE rdata" (see parseRr in test/helpers/wire.ts); other questions
//                  get NXDOMAIN
//   extraUpstreams: NAME: [entries as in upstream]   more scripted upstreams (e.g. a router for a
//                  forwarding rule); "$UPSTREAM:NAME" in any config string becomes its ADDR:PORT
//   steps:       one action each (or none, to only check), then `expect`:
//     query: { name, type, edns?, tcp?, from? }   from = source address, e.g. 127.0.0.2
//       expect: { rcode, answer, authority?, additional?, ede?, edeText?, upstreamQueries?,
//                 extraUpstreamQueries?: { NAME: n }, log? }
//       (log: fields of the n-th query's log line, so log.queries must stay `all`)
//     writeFile: { name, text }                     replace a file next to the config
//     refreshList: NAME                             POST /api/lists/refresh, must be `updated`
//     block: { name, reason }                       POST /api/block (emergency block)
//     any step, expect: { events?, http? }
//       events: [{ type, …fields }]   the security events of the types named, in order, exactly
//                                     (read from the alerts file sink; polled, then re-read
//                                     after a short settle so a late duplicate still fails)
//       http: { path, status?, json?, contains? }   GET on the admin API (polled): json must
//                                     match the body; each `contains` item must match an
//                                     object somewhere in it
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { z } from 'zod';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, type ScriptedReply, type Upstream } from '../helpers/upstream.js';
import { edeOf, parseMessage, parseRr, presentRecord, T, typeCode, type WireRecord } from '../helpers/wire.js';

const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type RcodeName = keyof typeof RCODES;
const rcodeName = (n: number): string => (Object.entries(RCODES).find(([, v]) => v === n)?.[0] ?? `RCODE${n}`);

const ADMIN_TOKEN = process.env.C2DNS_ADMIN_TOKEN || 'replay-fixture-admin-token-0123456789';
/** How long expectations on asynchronous output (events, admin state) are polled. */
const POLL_MS = 3000;
/** After events match, they are read again this much later: "exactly one" must stay one. */
const SETTLE_MS = 300;

// ---- the fixture format ----------------------------------------------------------------------

const typeName = z.string().refine(
  (t) => {
    try {
      typeCode(t);
      return true;
    } catch {
      return false;
    }
  },
  (t) => ({ message: `unknown record type "${t}"` }),
);
const record = z.string().superRefine((text, ctx) => {
  try {
    parseRr(text);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
  }
});
const rcode = z.enum(Object.keys(RCODES) as [RcodeName, ...RcodeName[]]);
const partial = z.record(z.unknown());

const upstreamEntry = z
  .object({
    name: z.string().min(1),
    type: typeName,
    rcode: rcode.optional(),
    answer: z.array(record).optional(),
    authority: z.array(record).optional(),
    additional: z.array(record).optional(),
  })
  .strict();

const queryAction = z
  .object({
    name: z.string().min(1),
    type: typeName,
    edns: z.boolean().optional(),
    tcp: z.boolean().optional(),
    /** Source address of the query (loopback aliases 127.0.0.x need no setup on Linux). */
    from: z.string().ip().optional(),
  })
  .strict();

const httpExpect = z
  .object({
    path: z.string().startsWith('/'),
    status: z.number().int().default(200),
    json: partial.optional(),
    contains: z.array(partial).optional(),
  })
  .strict();

const expectation = z
  .object({
    // After a query only:
    rcode: rcode.optional(),
    answer: z.array(z.string()).optional(),
    authority: z.array(z.string()).optional(),
    /** Records of the additional section other than OPT. */
    additional: z.array(z.string()).optional(),
    ede: z.array(z.number().int()).optional(),
    /** The text of the EDE 15 (Blocked) option; there must be exactly one. */
    edeText: z.string().optional(),
    upstreamQueries: z.number().int().min(0).optional(),
    /** Queries each of extraUpstreams received for this step. */
    extraUpstreamQueries: z.record(z.number().int().min(0)).optional(),
    log: partial.optional(),
    // After any step:
    events: z.array(partial.and(z.object({ type: z.string().min(1) }))).optional(),
    http: httpExpect.optional(),
  })
  .strict();

const QUERY_ONLY = ['rcode', 'answer', 'authority', 'additional', 'ede', 'edeText', 'upstreamQueries', 'extraUpstreamQueries', 'log'] as const;

const step = z
  .object({
    query: queryAction.optional(),
    writeFile: z.object({ name: z.string().min(1), text: z.string() }).strict().optional(),
    refreshList: z.string().min(1).optional(),
    block: z.object({ name: z.string().min(1), reason: z.string().min(1) }).strict().optional(),
    expect: expectation.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const actions = (['query', 'writeFile', 'refreshList', 'block'] as const).filter((k) => s[k] !== undefined);
    if (actions.length > 1) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `one action per step, got ${actions.join(' and ')}` });
    if (actions.length === 0 && s.expect === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'a step needs an action or an expect' });
    if (s.query !== undefined && (s.expect?.rcode === undefined || s.expect.answer === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['expect'], message: 'a query step expects at least rcode and answer' });
    }
    if (s.query === undefined) {
      for (const k of QUERY_ONLY) if (s.expect?.[k] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['expect', k], message: `"${k}" is only checked after a query` });
    }
  });

const fixtureSchema = z
  .object({
    description: z.string().min(1),
    config: z.record(z.unknown()).default({}),
    files: z.record(z.string()).default({}),
    upstream: z.array(upstreamEntry).default([]),
    extraUpstreams: z.record(z.array(upstreamEntry)).default({}),
    steps: z.array(step).min(1),
  })
  .strict();

type Fixture = z.infer<typeof fixtureSchema>;
type Step = Fixture['steps'][number];
type Expectation = z.infer<typeof expectation>;
type HttpExpect = z.infer<typeof httpExpect>;

// ---- helpers -------------------------------------------------------------------------------

/** `value` with "$TMP" (and "$UPSTREAM:NAME", the extra upstreams' addresses) replaced in every string. */
function substitute(value: unknown, tmp: string, upstreams: Readonly<Record<string, string>> = {}): unknown {
  if (typeof value === 'string') return value.replaceAll('$TMP', tmp).replace(/\$UPSTREAM:([A-Za-z0-9_-]+)/g, (m, n: string) => upstreams[n] ?? m);
  if (Array.isArray(value)) return value.map((v) => substitute(v, tmp, upstreams));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, tmp, upstreams)]));
  return value;
}

/** The path of the first file sink in the configuration, where security events are read. */
function eventFile(config: Record<string, unknown>): string | null {
  const alerts = config.alerts as { sinks?: { type?: unknown; path?: unknown }[] } | undefined;
  const sink = alerts?.sinks?.find((s) => s.type === 'file' && typeof s.path === 'string');
  return typeof sink?.path === 'string' ? sink.path : null;
}

function readEvents(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The non-OPT records of a section, in presentation form. */
function shown(raw: Buffer, records: readonly WireRecord[]): string[] {
  return records.filter((r) => r.type !== T.OPT).map((r) => presentRecord(raw, r));
}

/** True when some object inside `body` (at any depth, itself included) matches `want`. */
function containsMatch(body: unknown, want: Record<string, unknown>): boolean {
  if (body === null || typeof body !== 'object') return false;
  if (!Array.isArray(body)) {
    try {
      expect(body).toMatchObject(want);
      return true;
    } catch {
      // not this one; look inside
    }
  }
  return Object.values(body).some((v) => containsMatch(v, want));
}

async function poll(check: () => void | Promise<void>, timeoutMs = POLL_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** One admin API call; non-JSON bodies come back as text. */
async function adminCall(c2: TestServer, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const url = c2.server.admin?.url;
  if (url === undefined) throw new Error('the test server has no admin listener (admin.enabled: false?)');
  const res = await fetch(`${url}${path}`, {
    method,
    signal: AbortSignal.timeout(5000),
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed };
}

// ---- the interpreter -------------------------------------------------------------------------

interface Run {
  c2: TestServer;
  upstreamReceived: () => number;
  /** Queries received so far by each extra upstream. */
  extraReceived: (name: string) => number;
  events: string | null;
  /** Queries sent so far: the n-th query's log line is line n. */
  queries: number;
}

async function runQuery(run: Run, q: NonNullable<Step['query']>, e: Expectation, label: string): Promise<void> {
  const before = run.upstreamReceived();
  const extraBefore = Object.fromEntries(Object.keys(e.extraUpstreamQueries ?? {}).map((n) => [n, run.extraReceived(n)]));
  const { raw, packet } = await ask(run.c2.port, q.name, typeCode(q.type), { tcp: q.tcp, from: q.from, ...(q.edns ? { edns: {} } : {}) });
  run.queries++;
  const m = parseMessage(raw);
  expect(rcodeName(m.rcode), `${label}: rcode`).toBe(e.rcode);
  expect(shown(raw, m.answers), `${label}: answer`).toEqual(e.answer);
  if (e.authority) expect(shown(raw, m.authorities), `${label}: authority`).toEqual(e.authority);
  if (e.additional) expect(shown(raw, m.additionals), `${label}: additional`).toEqual(e.additional);
  if (e.ede) expect(edeOf(packet).map((x) => x.infoCode), `${label}: EDE codes`).toEqual(e.ede);
  if (e.edeText !== undefined) {
    expect(
      edeOf(packet)
        .filter((x) => x.infoCode === 15)
        .map((x) => x.text),
      `${label}: EDE 15 text`,
    ).toEqual([e.edeText]);
  }
  if (e.upstreamQueries !== undefined) expect(run.upstreamReceived() - before, `${label}: queries the upstream received`).toBe(e.upstreamQueries);
  for (const [n, want] of Object.entries(e.extraUpstreamQueries ?? {})) expect(run.extraReceived(n) - extraBefore[n]!, `${label}: queries the extra upstream "${n}" received`).toBe(want);
  if (e.log) {
    const lines = await run.c2.waitForLog(run.queries);
    expect(lines[run.queries - 1], `${label}: query log line ${run.queries}`).toMatchObject(e.log);
  }
}

async function expectEvents(run: Run, want: Record<string, unknown>[], label: string): Promise<void> {
  const file = run.events;
  if (file === null) throw new Error(`${label}: expect.events needs a file sink in the config (alerts: { sinks: [{ type: file, path: "$TMP/alerts.jsonl" }] })`);
  const types = new Set(want.map((w) => w.type));
  const check = (): void => {
    const got = readEvents(file).filter((ev) => types.has(ev.type));
    expect(got, `${label}: security events of type ${[...types].join(', ')}`).toMatchObject(want);
  };
  await poll(check);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  check();
}

async function expectHttp(run: Run, h: HttpExpect, label: string): Promise<void> {
  await poll(async () => {
    const r = await adminCall(run.c2, 'GET', h.path);
    const where = `${label}: GET ${h.path}`;
    expect(r.status, `${where}: status (body ${JSON.stringify(r.body)})`).toBe(h.status);
    if (h.json) expect(r.body, `${where}: body`).toMatchObject(h.json);
    for (const c of h.contains ?? []) expect(containsMatch(r.body, c), `${where}: an object matching ${JSON.stringify(c)} in ${JSON.stringify(r.body)}`).toBe(true);
  });
}

async function runStep(run: Run, s: Step, label: string): Promise<void> {
  const e = s.expect ?? {};
  if (s.query) {
    await runQuery(run, s.query, e, label);
  } else if (s.writeFile) {
    writeFileSync(join(run.c2.dir, s.writeFile.name), s.writeFile.text);
  } else if (s.refreshList !== undefined) {
    const r = await adminCall(run.c2, 'POST', '/api/lists/refresh', { names: [s.refreshList] });
    expect(r.status, `${label}: POST /api/lists/refresh (${JSON.stringify(r.body)})`).toBe(200);
    expect(r.body, `${label}: refresh outcome`).toMatchObject({ results: [{ list: s.refreshList, outcome: 'updated' }] });
  } else if (s.block) {
    const r = await adminCall(run.c2, 'POST', '/api/block', { names: [s.block.name], reason: s.block.reason });
    expect(r.status, `${label}: POST /api/block (${JSON.stringify(r.body)})`).toBe(201);
  }
  if (e.events) await expectEvents(run, e.events, label);
  if (e.http) await expectHttp(run, e.http, label);
}

function stepLabel(s: Step, i: number): string {
  if (s.query) return `step ${i + 1} (${s.query.name} ${s.query.type}${s.query.tcp ? ' over TCP' : ''}${s.query.from ? ` from ${s.query.from}` : ''})`;
  if (s.writeFile) return `step ${i + 1} (write ${s.writeFile.name})`;
  if (s.refreshList !== undefined) return `step ${i + 1} (refresh ${s.refreshList})`;
  if (s.block) return `step ${i + 1} (emergency block ${s.block.name})`;
  return `step ${i + 1} (check)`;
}

/** A scripted upstream answering the fixture's entries; other questions get NXDOMAIN. */
function scripted(entries: Fixture['upstream']): Promise<Upstream> {
  const records = entries.map((u) => ({
    name: u.name.toLowerCase(),
    type: typeCode(u.type),
    reply: { rcode: RCODES[u.rcode ?? 'NOERROR'], answers: (u.answer ?? []).map(parseRr), authorities: (u.authority ?? []).map(parseRr), additionals: (u.additional ?? []).map(parseRr) } satisfies ScriptedReply,
  }));
  return startUpstream((q): ScriptedReply => records.find((r) => r.name === q.name.toLowerCase() && r.type === q.type)?.reply ?? { rcode: RCODES.NXDOMAIN });
}

async function replay(fx: Fixture): Promise<void> {
  const up = await scripted(fx.upstream);
  const extra = new Map<string, Upstream>();
  for (const [n, entries] of Object.entries(fx.extraUpstreams)) extra.set(n, await scripted(entries));
  const tmp = mkdtempSync(join(tmpdir(), 'c2dns-replay-'));
  const config = substitute(fx.config, tmp, Object.fromEntries([...extra].map(([n, u]) => [n, `127.0.0.1:${u.port}`]))) as Record<string, unknown>;
  const admin = { listen: '127.0.0.1:0', token: ADMIN_TOKEN, ...(config.admin as object | undefined) };
  let c2: TestServer | null = null;
  try {
    c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], ...config, admin }, fx.files);
    const run: Run = {
      c2,
      upstreamReceived: () => up.received.length,
      extraReceived: (n) => {
        const u = extra.get(n);
        if (u === undefined) throw new Error(`expect.extraUpstreamQueries names "${n}", which is not in extraUpstreams`);
        return u.received.length;
      },
      events: eventFile(config),
      queries: 0,
    };
    for (const [i, s] of fx.steps.entries()) await runStep(run, s, stepLabel(s, i));
  } finally {
    await c2?.close();
    await up.close();
    for (const u of extra.values()) await u.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const DIR = join(import.meta.dirname, '..', 'fixtures', 'replay');

for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()) {
  const parsed = fixtureSchema.safeParse(YAML.parse(readFileSync(join(DIR, file), 'utf8')));
  describe(`replay ${file}`, () => {
    if (!parsed.success) {
      it('is a valid fixture', () => {
        throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
      });
      return;
    }
    it(parsed.data.description.trim(), () => replay(parsed.data));
  });
}
