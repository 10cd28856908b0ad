// The ecosystem files under deploy/ (Grafana dashboard, Prometheus rules and scrape job) against
// what c2dns really exports: every c2dns_* name and label a PromQL expression uses must appear in
// the exposition Metrics.render() produces (fed by fake sources, nothing is started), and every
// field a LogQL panel filters or groups on must be a field of a real query-log line or security
// event. When promtool is installed (Debian: prometheus) the files are also checked with it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { SourceState } from '../../src/feeds/manager.js';
import { Metrics } from '../../src/observe/metrics.js';
import { QueryLog } from '../../src/observe/querylog.js';
import { isStaleFeed, SecurityEvents, type SecurityEvent } from '../../src/respond/security-events.js';
import { parseExposition } from '../observe/exposition.js';
import { query, rule } from '../respond/helpers.js';

const root = join(import.meta.dirname, '..', '..');
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

/** Labels Prometheus itself attaches to every scraped series. */
const TARGET_LABELS = new Set(['instance', 'job']);
/** Metrics from outside c2dns the files may use. */
const FOREIGN_METRICS = new Set(['up']);

// ------------------------------------------------------------------ what c2dns exports

/** Sample name → label names seen on it (histograms: _bucket/_sum/_count, as exposed). */
async function exportedMetrics(): Promise<Map<string, Set<string>>> {
  const t0 = Date.parse('2026-03-01T12:00:00Z');
  const upstream = '192.0.2.53:53';
  const source = {
    config: { name: '3cx' },
    compiled: { rules: [{}, {}], report: { rejected: 1 } },
    sha256: null,
    fromLastGood: false,
    lastSuccess: t0 - 60_000,
    lastFailure: { at: t0 - 30_000, reason: 'network', message: 'connection refused' },
  } as unknown as SourceState;
  const m = new Metrics({
    feeds: { sources: [source] },
    upstreams: [{ label: upstream, counters: { requests: 2, responses: 1, timeouts: 1, errors: 0, ignoredReplies: 0, truncated: 0 } }],
    cache: { size: 1, hits: 1, misses: 1 },
    dispatchCounters: () => ({ dropped: 0, malformed: 0, internalErrors: 0 }),
    alerts: () => [{ sink: 'soc', sent: 1, failed: 1, dropped: 0, queued: 0 }],
    quarantinedClients: () => 0,
    upstreamHealth: () => [{ upstream, healthy: true }],
    version: '0.0.0-test',
    now: () => t0,
  });
  // Queries of every kind, so every labelled family has samples (labels are read from them).
  m.onQuery(query('192.0.2.1', 'akamaicontainer.com', rule('akamaicontainer.com', ['c2', '3cx'], '3cx')));
  m.onQuery({ ...query('192.0.2.1', 'example.org', null, 'allowed'), upstream });
  m.onQuery({ ...query('192.0.2.1', 'example.org', null, 'servfail'), rcode: 2 });

  const out = new Map<string, Set<string>>();
  for (const f of parseExposition(await m.render()).values()) {
    const names = f.type === 'histogram' ? [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`] : [f.name];
    for (const n of names) out.set(n, new Set());
    for (const s of f.samples) for (const l of Object.keys(s.labels)) out.get(s.name)!.add(l);
  }
  return out;
}

/** Field names of a real query-log line. */
function queryLogFields(): Set<string> {
  const log = new QueryLog('none', 'stdout');
  const line = log.line({ ...query('192.0.2.1', 'akamaicontainer.com', rule('akamaicontainer.com', ['c2', '3cx'], '3cx')), time: Date.now() });
  return new Set(Object.keys(JSON.parse(line) as object));
}

/**
 * Every kind of security event c2dns raises, as the real code produces them: SecurityEvents for
 * C2 hits and stale feeds, emit() with the fields src/server/app.ts passes for quarantine and
 * retro-hunt (keep those two in step with app.ts).
 */
function realEvents(): SecurityEvent[] {
  let t = Date.parse('2026-03-01T12:00:00Z');
  const ev = new SecurityEvents({ sweepIntervalMs: 0, now: () => t });
  const seen: SecurityEvent[] = [];
  ev.subscribe((e) => seen.push(e));
  const hit = rule('akamaicontainer.com', ['c2', '3cx'], '3cx');
  ev.onQuery(query('192.0.2.1', 'akamaicontainer.com', hit)); // c2-hit
  ev.onQuery(query('192.0.2.1', 'cdn.akamaicontainer.com', hit));
  const feed = { config: { name: 'threatfox' }, lastSuccess: t, lastFailure: { at: t, reason: 'network', message: 'down' } };
  t += 7 * 3600_000;
  ev.sweep(); // c2-hit-summary
  ev.checkStaleFeeds([feed]); // stale-feed
  ev.checkStaleFeeds([{ ...feed, lastSuccess: t }]); // stale-feed-resolved
  const who = { client: '192.0.2.1', mac: '3c:22:fb:41:7a:09', clientName: 'alice-laptop' };
  ev.emit({ type: 'client-quarantined', severity: 'high', ...who, via: '192.0.2.254', reason: 'queried akamaicontainer.com (list 3cx, rule akamaicontainer.com)', until: new Date(t).toISOString() });
  ev.emit({ type: 'client-released', severity: 'info', ...who, actor: 'api 127.0.0.1' });
  ev.emit({
    type: 'retro-hunt',
    severity: 'high',
    client: '192.0.2.1',
    name: 'cdn.akamaicontainer.com',
    indicator: 'akamaicontainer.com',
    firstSeen: new Date(t - 3600_000).toISOString(),
    lastSeen: new Date(t - 60_000).toISOString(),
    count: 3,
    answers: ['203.0.113.7'],
    actions: ['allowed'],
    rcodes: ['NOERROR'],
    qtypes: ['A'],
    resolved: true,
    blockedAt: new Date(t).toISOString(),
  });
  ev.stop();
  expect(seen.map((e) => e.type)).toEqual(['c2-hit', 'c2-hit-summary', 'stale-feed', 'stale-feed-resolved', 'client-quarantined', 'client-released', 'retro-hunt']);
  return seen;
}

/** Top-level field names per event type. */
function eventFieldsByType(): Map<string, Set<string>> {
  return new Map(realEvents().map((e) => [e.type, new Set(Object.keys(e))]));
}

/** Field names of all events, nested ones also as Loki's json parser flattens them (lastFailure_reason). */
function eventFields(): Set<string> {
  const fields = new Set<string>();
  for (const e of realEvents()) {
    for (const [k, v] of Object.entries(e)) {
      fields.add(k);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const k2 of Object.keys(v)) fields.add(`${k}_${k2}`);
    }
  }
  return fields;
}

// ------------------------------------------------------------------ reading expressions

interface Expr {
  where: string;
  expr: string;
}

const METRIC = /\bc2dns_[a-zA-Z0-9_]+/g;
const SELECTOR = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g;
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"/g;
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

function words(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Problems with one PromQL expression: unknown metric names, unknown labels. */
function checkPromQL(e: Expr, exported: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  const names = [...new Set(e.expr.match(METRIC) ?? [])];
  if (names.length === 0 && !/\bup\{/.test(e.expr)) problems.push(`${e.where}: uses no c2dns metric`);
  const labels = new Set(TARGET_LABELS);
  for (const n of names) {
    const known = exported.get(n);
    if (known === undefined) problems.push(`${e.where}: ${n} is not exported by c2dns`);
    else for (const l of known) labels.add(l);
  }
  for (const [, metric, body] of e.expr.matchAll(SELECTOR)) {
    if (!metric!.startsWith('c2dns_') && !FOREIGN_METRICS.has(metric!)) problems.push(`${e.where}: selector on unknown metric ${metric}`);
    const own = exported.get(metric!) ?? new Set<string>();
    for (const [, l] of body!.matchAll(MATCHER)) if (!own.has(l!) && !TARGET_LABELS.has(l!)) problems.push(`${e.where}: ${metric} has no label "${l}"`);
  }
  for (const [, list] of e.expr.matchAll(GROUPING)) for (const l of words(list!)) if (!labels.has(l)) problems.push(`${e.where}: groups by "${l}", which none of ${names.join(', ')} has`);
  return problems;
}

/** Problems with one LogQL expression: fields it filters or groups on that the log lines do not have. */
function checkLogQL(e: Expr, queryLog: Set<string>, events: Set<string>): string[] {
  const problems: string[] = [];
  const stream = /\{([^}]*)\}/.exec(e.expr)?.[1] ?? '';
  const job = /job\s*=\s*"([^"]*)"/.exec(stream)?.[1];
  // Stream labels the collectors in docs/siem.md set (filename: added by the file tailers).
  const fields = job === 'c2dns' ? new Set([...queryLog, 'job', 'action', 'filename']) : job === 'c2dns-alerts' ? new Set([...events, 'job', 'type', 'filename']) : null;
  if (fields === null) return [`${e.where}: LogQL stream selector without job="c2dns" or job="c2dns-alerts": ${e.expr}`];
  for (const [, l] of stream.matchAll(MATCHER)) if (!fields.has(l!)) problems.push(`${e.where}: stream label "${l}" is not set by the documented collectors`);
  const pipeline = e.expr.slice(e.expr.indexOf('}') + 1);
  for (const [, l] of pipeline.matchAll(/\|\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=|>=|<=|>|<)\s*["0-9]/g)) if (!fields.has(l!)) problems.push(`${e.where}: filters on "${l}", not a field of job="${job}" lines`);
  for (const [, list] of e.expr.matchAll(GROUPING)) for (const l of words(list!)) if (!fields.has(l)) problems.push(`${e.where}: groups by "${l}", not a field of job="${job}" lines`);
  return problems;
}

// ------------------------------------------------------------------ the files

interface Target {
  datasource?: { type?: string; uid?: string };
  expr?: string;
  refId?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos: { x: number; y: number; w: number; h: number };
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { type: string; name: string; query: unknown; datasource?: { type?: string; uid?: string } }[] };
}

function allPanels(ps: Panel[]): Panel[] {
  return ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

const dashboardText = read('deploy/grafana/c2dns.json');
const dashboard = JSON.parse(dashboardText) as Dashboard;
const rules = parseYaml(read('deploy/prometheus/alerts.yml')) as RuleFile;
const scrape = parseYaml(read('deploy/prometheus/scrape.yml')) as {
  rule_files?: string[];
  scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
};

function dashboardExprs(kind: 'prometheus' | 'loki'): Expr[] {
  const out: Expr[] = [];
  for (const p of allPanels(dashboard.panels)) {
    for (const t of p.targets ?? []) {
      const type = t.datasource?.type ?? p.datasource?.type;
      if (type === kind && t.expr !== undefined) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
    }
  }
  if (kind === 'prometheus') {
    for (const v of dashboard.templating.list) {
      if (v.type !== 'query') continue;
      const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
      out.push({ where: `variable ${v.name}`, expr: q });
    }
  }
  return out;
}

const alertRules = rules.groups.flatMap((g) => g.rules.map((r) => ({ group: g.name, ...r })));
const alertExprs = (): Expr[] => alertRules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }));

/** PromQL as Prometheus sees it once Grafana has put in its variables. */
function grafanaToPromQL(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1h')
    .replaceAll('$instance', '.*');
}

// ------------------------------------------------------------------ tests

let exported: Map<string, Set<string>>;
beforeAll(async () => {
  exported = await exportedMetrics();
});

describe('the exposition the files are checked against', () => {
  it('has every family c2dns documents, with samples and labels', () => {
    for (const n of ['c2dns_queries_total', 'c2dns_blocks_total', 'c2dns_upstream_duration_seconds_bucket', 'c2dns_list_age_seconds', 'c2dns_alerts_queued', 'c2dns_quarantined_clients']) expect(exported.has(n), n).toBe(true);
    expect([...exported.get('c2dns_blocks_total')!].sort()).toEqual(['list', 'tag']);
    expect([...exported.get('c2dns_upstream_duration_seconds_bucket')!].sort()).toEqual(['le', 'upstream']);
    expect([...exported.get('c2dns_list_refresh_failures_total')!].sort()).toEqual(['list', 'reason']);
    // By design no metric identifies a client (see the dashboard's Loki panels).
    for (const [n, labels] of exported) expect(labels.has('client'), n).toBe(false);
  });
});

describe('deploy/grafana/c2dns.json', () => {
  const panels = allPanels(dashboard.panels);

  it('is a dashboard with Prometheus and Loki datasource variables and an instance variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBe('c2dns');
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.get('DS_PROMETHEUS')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.get('DS_LOKI')).toMatchObject({ type: 'datasource', query: 'loki' });
    expect(vars.get('instance')).toMatchObject({ type: 'query', datasource: { uid: '${DS_PROMETHEUS}' } });
  });

  it('has unique panel ids, panels inside the 24-column grid, and only the two datasource variables as datasources', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.description, `${p.title} has a description`).toBeTruthy();
      expect(['${DS_PROMETHEUS}', '${DS_LOKI}'], p.title).toContain(p.datasource?.uid);
      expect(p.targets?.length, `${p.title} has queries`).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource?.uid, p.title).toBe(p.datasource?.uid);
    }
  });

  it('uses only c2dns metrics and labels that c2dns exports', () => {
    const exprs = dashboardExprs('prometheus');
    expect(exprs.length).toBeGreaterThan(30);
    expect(exprs.flatMap((e) => checkPromQL(e, exported))).toEqual([]);
    // Every panel query follows the instance selector.
    for (const e of exprs) if (!e.where.startsWith('variable ')) expect(e.expr, e.where).toMatch(/instance=~"\$instance"/);
  });

  it('has the panels the dashboard is for', () => {
    const titles = panels.map((p) => p.title);
    for (const t of [
      'Queries per second by action',
      'Blocks per second by list',
      'Blocks per second by tag',
      'Top blocked clients (query log, Loki)',
      'C2-tagged blocks by list',
      'Upstream latency p50 / p95 / p99',
      'Upstream timeouts and errors',
      'Upstream health',
      'Cache hit ratio',
      'SERVFAIL ratio',
      'List freshness',
      'List age',
      'Entries per list',
      'Refresh failures by list and reason',
      'Quarantined clients',
      'Request duration (heatmap)',
      'Request duration percentiles',
      'Alerts sent and failed per sink',
      'Alerts queued per sink',
      'Alerts dropped per sink',
    ])
      expect(titles).toContain(t);
  });

  it('takes top blocked clients from the query log in Loki and says why', () => {
    const p = panels.find((x) => x.title === 'Top blocked clients (query log, Loki)')!;
    expect(p.datasource).toEqual({ type: 'loki', uid: '${DS_LOKI}' });
    expect(p.targets![0]!.expr).toBe('topk(10, sum by (client) (count_over_time({job="c2dns"} | json | action="blocked" [$__range])))');
    expect(p.description).toMatch(/no client label/);
  });

  it('filters and groups Loki queries only on fields the query log and the security events have', () => {
    const exprs = dashboardExprs('loki');
    expect(exprs.length).toBeGreaterThanOrEqual(4);
    expect(exprs.flatMap((e) => checkLogQL(e, queryLogFields(), eventFields()))).toEqual([]);
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('has groups of rules with the keys Prometheus and the receivers need', () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    expect(new Set(rules.groups.map((g) => g.name)).size).toBe(rules.groups.length);
    const names = new Set<string>();
    for (const g of rules.groups) {
      expect(g.rules.length, g.name).toBeGreaterThan(0);
      for (const r of g.rules) {
        const where = `${g.name}/${r.alert}`;
        for (const k of Object.keys(r)) expect(['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'], `${where}: key ${k}`).toContain(k);
        expect(r.alert, where).toMatch(/^C2dns[A-Za-z0-9]+$/);
        expect(names.has(r.alert!), `${where} is unique`).toBe(false);
        names.add(r.alert!);
        expect(typeof r.expr, where).toBe('string');
        if (r.for !== undefined) expect(r.for, where).toMatch(/^\d+[smhdwy]$/);
        expect(['critical', 'warning', 'info'], where).toContain(r.labels?.severity);
        for (const a of ['summary', 'description', 'runbook']) expect(r.annotations?.[a]?.trim(), `${where}: annotation ${a}`).toBeTruthy();
      }
    }
  });

  it('covers C2 hits, feeds, upstreams, SERVFAIL, availability, alert delivery and quarantine', () => {
    const by = new Map(alertRules.map((r) => [r.alert!, r]));
    const want: Record<string, string> = {
      C2dnsC2DomainQueried: 'critical',
      C2dnsListStale: 'warning',
      C2dnsListNotLoaded: 'critical',
      C2dnsListRefreshFailing: 'warning',
      C2dnsUpstreamDown: 'warning',
      C2dnsAllUpstreamsDown: 'critical',
      C2dnsServfailRatioHigh: 'warning',
      C2dnsDown: 'critical',
      C2dnsAlertDeliveryFailing: 'warning',
      C2dnsAlertBacklogGrowing: 'warning',
      C2dnsAlertsDropped: 'critical',
      C2dnsClientsQuarantined: 'info',
    };
    for (const [name, severity] of Object.entries(want)) expect(by.get(name)?.labels?.severity, name).toBe(severity);
    expect(by.get('C2dnsC2DomainQueried')!.expr).toMatch(/c2dns_blocks_total\{tag="c2"\}/);
    expect(by.get('C2dnsListStale')!).toMatchObject({ for: '15m' });
    expect(by.get('C2dnsUpstreamDown')!).toMatchObject({ expr: 'c2dns_upstream_healthy == 0', for: '2m' });
    expect(by.get('C2dnsServfailRatioHigh')!).toMatchObject({ for: '10m' });
    expect(by.get('C2dnsServfailRatioHigh')!.expr).toMatch(/> 0\.05/);
  });

  it('uses only c2dns metrics and labels that c2dns exports, and the scrape job of scrape.yml', () => {
    expect(alertExprs().flatMap((e) => checkPromQL(e, exported))).toEqual([]);
    const jobs = new Set(scrape.scrape_configs.map((s) => s.job_name));
    for (const r of alertRules) for (const [, job] of r.expr.matchAll(/job="([^"]*)"/g)) expect(jobs.has(job!), `${r.alert}: job ${job}`).toBe(true);
  });
});

describe('deploy/prometheus/scrape.yml', () => {
  it('scrapes the admin listener and loads the rules', () => {
    const job = scrape.scrape_configs.find((s) => s.job_name === 'c2dns')!;
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job.static_configs.flatMap((s) => s.targets)).toContain('127.0.0.1:9553');
    expect(scrape.rule_files).toContain('alerts.yml');
  });
});

describe('docs/siem.md', () => {
  const doc = read('docs/siem.md');
  const blocks = (lang: string): string[] => [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);

  it('shows a query-log line and documents every field it has', () => {
    const fields = queryLogFields();
    const example = /^ {4}(\{"level":30,.*\})$/m.exec(doc);
    expect(example, 'an example line').not.toBeNull();
    expect(new Set(Object.keys(JSON.parse(example![1]!) as object))).toEqual(fields);
    const table = doc.slice(doc.indexOf('### The query log'), doc.indexOf('### Security events'));
    for (const f of fields) expect(table, `query log field ${f}`).toContain(`\`${f}\``);
  });

  it('documents every field of every security event type', () => {
    const byType = eventFieldsByType();
    const common = ['id', 'type', 'time', 'severity'];
    for (const f of common) expect(doc).toContain(`\`${f}\``);
    for (const [type, fields] of byType) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${type}\` `));
      expect(row, `a table row for ${type}`).toBeDefined();
      // The summary's row says "the c2-hit fields" and lists only what it adds.
      const own = type === 'c2-hit-summary' ? [...fields].filter((f) => !byType.get('c2-hit')!.has(f)) : [...fields];
      for (const f of own) if (!common.includes(f)) expect(row, `${type}.${f}`).toContain(`\`${f}\``);
    }
  });

  it('maps exactly the fields of the query log and of the events in the Elasticsearch templates', () => {
    const templates = new Map<string, { template: { mappings: { properties: Record<string, { properties?: Record<string, unknown> }> } } }>();
    for (const b of blocks('json')) {
      const m = /^PUT _index_template\/(\S+)\n([\s\S]*)$/.exec(b);
      if (m !== null) templates.set(m[1]!, JSON.parse(m[2]!));
    }
    const q = templates.get('c2dns-queries')!.template.mappings.properties;
    expect(new Set(Object.keys(q))).toEqual(queryLogFields());
    const e = templates.get('c2dns-events')!.template.mappings.properties;
    const all = new Set([...eventFieldsByType().values()].flatMap((s) => [...s]));
    expect(new Set(Object.keys(e))).toEqual(all);
    const stale = realEvents().find(isStaleFeed)!;
    const failure = stale.lastFailure!;
    expect(new Set(Object.keys(e.lastFailure!.properties!))).toEqual(new Set(Object.keys(failure)));
  });

  it('uses only real fields in its LogQL', () => {
    const exprs = blocks('logql').map((expr, i) => ({ where: `docs/siem.md logql block ${i + 1}`, expr: expr.trim() }));
    expect(exprs.length).toBeGreaterThanOrEqual(5);
    expect(exprs.flatMap((e) => checkLogQL(e, queryLogFields(), eventFields()))).toEqual([]);
  });
});

// ------------------------------------------------------------------ promtool, when installed

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const hasPromtool = promtool.error === undefined && promtool.status === 0;
if (!hasPromtool) console.warn('promtool not found (Debian: apt-get install prometheus): the promtool checks of deploy/prometheus are skipped');

function run(args: string[], cwd = root): { ok: boolean; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!hasPromtool)('promtool', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'c2dns-deploy-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the rules and the scrape configuration', () => {
    const rulesCheck = run(['check', 'rules', 'deploy/prometheus/alerts.yml']);
    expect(rulesCheck.ok, rulesCheck.out).toBe(true);
    const configCheck = run(['check', 'config', 'deploy/prometheus/scrape.yml']);
    expect(configCheck.ok, configCheck.out).toBe(true);
  });

  it('parses every PromQL expression of the dashboard', () => {
    // As recording rules, so promtool's parser sees each one.
    const file = join(dir, 'dashboard-exprs.yml');
    const recording = dashboardExprs('prometheus')
      .filter((e) => !e.expr.startsWith('label_values('))
      .map((e, i) => `      - record: c2dns:dashboard_expr_${i}\n        expr: ${JSON.stringify(grafanaToPromQL(e.expr))}\n`);
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${recording.join('')}`);
    const r = run(['check', 'rules', file]);
    expect(r.ok, r.out).toBe(true);
  });

  it('evaluates the alert expressions as intended on sample series', () => {
    const expr = (alert: string): string => alertRules.find((r) => r.alert === alert)!.expr;
    const empty = join(dir, 'none.yml');
    writeFileSync(empty, 'groups: []\n');
    const id = 'instance="c2dns:9553", job="c2dns"';
    const tests = {
      rule_files: [empty],
      evaluation_interval: '1m',
      tests: [
        {
          // The first C2 block after a start creates the series with value 1: still an alert.
          interval: '1m',
          input_series: [
            { series: `c2dns_blocks_total{${id}, list="3cx", tag="c2"}`, values: '_x10 1x20' },
            { series: `c2dns_blocks_total{${id}, list="3cx", tag="3cx"}`, values: '_x10 1x20' },
            { series: `c2dns_blocks_total{${id}, list="ads", tag=""}`, values: '0+5x30' },
          ],
          promql_expr_test: [
            { expr: expr('C2dnsC2DomainQueried'), eval_time: '5m', exp_samples: [] },
            { expr: expr('C2dnsC2DomainQueried'), eval_time: '12m', exp_samples: [{ labels: '{instance="c2dns:9553", list="3cx"}', value: 1 }] },
            { expr: expr('C2dnsC2DomainQueried'), eval_time: '25m', exp_samples: [] },
          ],
        },
        {
          // A counter that keeps growing alerts; a steady one does not.
          interval: '1m',
          input_series: [{ series: `c2dns_blocks_total{${id}, list="threatfox", tag="c2"}`, values: '3x20 3+1x10' }],
          promql_expr_test: [
            { expr: `count(${expr('C2dnsC2DomainQueried')})`, eval_time: '15m', exp_samples: [] },
            { expr: `count(${expr('C2dnsC2DomainQueried')})`, eval_time: '25m', exp_samples: [{ labels: '{}', value: 1 }] },
          ],
        },
        {
          // One upstream down is not all down; both down is.
          interval: '1m',
          input_series: [
            { series: 'c2dns_upstream_healthy{instance="a:9553", job="c2dns", upstream="9.9.9.9:53"}', values: '1x10 0x10' },
            { series: 'c2dns_upstream_healthy{instance="a:9553", job="c2dns", upstream="149.112.112.112:53"}', values: '1x15 0x5' },
          ],
          promql_expr_test: [
            { expr: expr('C2dnsAllUpstreamsDown'), eval_time: '12m', exp_samples: [] },
            { expr: expr('C2dnsAllUpstreamsDown'), eval_time: '18m', exp_samples: [{ labels: '{instance="a:9553"}', value: 0 }] },
          ],
        },
        {
          // Half the answers SERVFAIL on an idle instance: ignored. 10 % on a busy one: alert.
          interval: '1m',
          input_series: [
            { series: 'c2dns_responses_total{instance="idle:9553", job="c2dns", rcode="SERVFAIL"}', values: '0+1x20' },
            { series: 'c2dns_responses_total{instance="idle:9553", job="c2dns", rcode="NOERROR"}', values: '0+1x20' },
            { series: 'c2dns_responses_total{instance="busy:9553", job="c2dns", rcode="SERVFAIL"}', values: '0+60x20' },
            { series: 'c2dns_responses_total{instance="busy:9553", job="c2dns", rcode="NOERROR"}', values: '0+540x20' },
          ],
          promql_expr_test: [{ expr: `count by (instance) (${expr('C2dnsServfailRatioHigh')})`, eval_time: '15m', exp_samples: [{ labels: '{instance="busy:9553"}', value: 1 }] }],
        },
        {
          // A spool that drains is fine; one that only grows is not.
          interval: '1m',
          input_series: [
            { series: 'c2dns_alerts_queued{instance="a:9553", job="c2dns", sink="siem"}', values: '0+2x30' },
            { series: 'c2dns_alerts_queued{instance="a:9553", job="c2dns", sink="chat"}', values: '5 0 3 0 2 0 4 0 1 0 5 0 3 0 2 0 4 0 1 0 2 0 3 0 1 0 2 0 3 0 1' },
          ],
          promql_expr_test: [{ expr: `count by (sink) (${expr('C2dnsAlertBacklogGrowing')})`, eval_time: '25m', exp_samples: [{ labels: '{sink="siem"}', value: 1 }] }],
        },
      ],
    };
    const file = join(dir, 'alerts.test.yml');
    writeFileSync(file, JSON.stringify(tests, null, 2)); // JSON is YAML
    const r = run(['test', 'rules', file], dir);
    expect(r.ok, r.out).toBe(true);
  });
});
