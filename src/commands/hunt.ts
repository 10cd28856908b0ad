// `c2dns hunt`: searches the query history for names (a configured list, a file of names, or
// every block list) and prints who asked for them, when, how often and what they were told.
//
// Names are read by the blocklist's own parsers and normaliser: a --names file as a `plain` list
// (or as `ioc-text` when it is a defanged report), a --name as one report token; whatever gives
// no name is reported with its line and reason, never dropped silently.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { FeedManager } from '../feeds/manager.js';
import { resolveHistoryConfig, type HistoryConfigHost } from '../history/config.js';
import { huntDetailed, type HuntHit, type HuntProgress } from '../history/hunt.js';
import { addListNames, IndicatorSet, parseIndicator, readNamesFile, type NamesFile } from '../history/indicators.js';
import { createOpLog } from '../observe/oplog.js';
import { commandUsage, optionsOf } from './usage.js';

export interface HuntIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  now?: () => number;
}

/** The hunt command's usage (commands/usage.ts, from the command table). */
const HUNT_USAGE = commandUsage('hunt')!;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "30d", "12h", "90m" (before now) or an ISO 8601 date/time; NaN when neither. */
export function parseWhen(s: string, now: number): number {
  const rel = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(s.trim());
  if (rel !== null) return now - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  if (!/^\d{4}-\d{2}-\d{2}/.test(s.trim())) return NaN;
  return Date.parse(s.trim());
}

class Usage extends Error {}

/** Input that gave no name to hunt: a file's line (or a count of them), shown on stderr and in --json. */
interface RejectedInput {
  source: string;
  line: number | null;
  text: string;
  reason: string;
}

function parseHuntArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    options: optionsOf('hunt'),
    strict: true,
    allowPositionals: false,
  }).values;
}

export async function runHunt(argv: string[], io: HuntIo): Promise<number> {
  const now = (io.now ?? Date.now)();
  let values: ReturnType<typeof parseHuntArgs>;
  try {
    values = parseHuntArgs(argv);
  } catch (err) {
    io.stderr.write(`c2dns: ${(err as Error).message}\n${HUNT_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(HUNT_USAGE);
    return 0;
  }
  try {
    const since = parseWhen(values.since ?? '30d', now);
    if (Number.isNaN(since)) throw new Usage(`--since: expected an age such as 30d, 12h, 90m or an ISO date, got "${values.since}"`);
    const until = values.until === undefined ? undefined : parseWhen(values.until, now);
    if (until !== undefined && Number.isNaN(until)) throw new Usage(`--until: expected an age such as 1h or an ISO date, got "${values.until}"`);

    const cfg = loadConfig({ file: values.config });
    const dir = values.dir ?? resolveHistoryConfig(cfg as Config & HistoryConfigHost).dir;
    const set = new IndicatorSet();
    const rejected: RejectedInput[] = [];
    for (const f of values.names ?? []) {
      let file: NamesFile;
      try {
        file = await readNamesFile(f);
      } catch (err) {
        throw new Usage(`--names ${f}: ${(err as Error).message}`);
      }
      for (const n of file.names) set.add(n);
      for (const x of file.report.examples) rejected.push({ source: f, line: x.line, text: x.text, reason: x.reason });
      const more = file.report.rejected - file.report.examples.length;
      if (more > 0) rejected.push({ source: f, line: null, text: '', reason: `and ${more} more lines that give no name` });
      if (file.report.ips.length > 0) rejected.push({ source: f, line: null, text: '', reason: `${file.report.ips.length} IP address${file.report.ips.length === 1 ? '' : 'es'} not hunted: the history is searched by name` });
      for (const [what, k] of Object.entries(file.report.ignored)) rejected.push({ source: f, line: null, text: '', reason: `${k} ignored (${what})` });
    }
    for (const n of values.name ?? []) {
      const r = parseIndicator(n);
      if (!r.ok) throw new Usage(`--name ${JSON.stringify(n)}: ${r.reason}`);
      set.add(r.name);
    }
    for (const x of rejected) io.stderr.write(`c2dns: ${x.source}${x.line !== null ? ` line ${x.line}` : ''}: ${x.reason}\n`);
    const lists = values.list ?? [];
    const given = (values.names?.length ?? 0) + (values.name?.length ?? 0) > 0;
    if (lists.length > 0 || !given) {
      const feeds = new FeedManager(cfg, createOpLog('silent'));
      await feeds.loadInitial({ network: false });
      try {
        addListNames(set, feeds.sources, lists);
      } catch (err) {
        throw new Usage((err as Error).message);
      }
    }
    if (set.size === 0) throw new Usage('nothing to hunt for: the lists and files given hold no names');

    const bar = io.stderr.isTTY === true && values.json !== true ? new ProgressBar(io.stderr) : null;
    const t0 = performance.now();
    const r = await huntDetailed(dir, {
      indicators: set,
      since,
      ...(until !== undefined ? { until } : {}),
      ...(bar !== null ? { onProgress: (p: HuntProgress) => bar.update(p) } : {}),
      onWarning: (file, err) => {
        bar?.clear();
        io.stderr.write(`c2dns: history segment ${file} skipped: ${err.message}\n`);
      },
    });
    bar?.clear();
    const secs = (performance.now() - t0) / 1000;
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify(
          {
            dir,
            since: new Date(since).toISOString(),
            until: until === undefined ? null : new Date(until).toISOString(),
            indicators: r.indicators,
            rejected,
            segments: r.segments,
            records: r.records,
            unreadableSegments: r.unreadable,
            hits: r.hits.map((h) => ({ ...h, firstSeen: new Date(h.firstSeen).toISOString(), lastSeen: new Date(h.lastSeen).toISOString() })),
          },
          null,
          2,
        )}\n`,
      );
    } else {
      if (r.hits.length > 0) io.stdout.write(formatHits(r.hits));
      const clients = new Set(r.hits.map((h) => h.client)).size;
      io.stderr.write(
        `c2dns: ${r.hits.length} hit${r.hits.length === 1 ? '' : 's'} (${clients} client${clients === 1 ? '' : 's'}) for ${r.indicators} indicator${r.indicators === 1 ? '' : 's'}; ` +
          `${r.records} queries in ${r.segments} segment${r.segments === 1 ? '' : 's'} of ${dir} searched in ${secs.toFixed(2)} s` +
          `${r.unreadable > 0 ? `; ${r.unreadable} unreadable` : ''}\n`,
      );
    }
    return r.hits.length > 0 ? 0 : 1;
  } catch (err) {
    if (!(err instanceof Usage)) throw err;
    io.stderr.write(`c2dns: ${err.message}\n${HUNT_USAGE}`);
    return 2;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Answers column: the addresses, or the response codes when none carried an address. */
function answersCell(h: HuntHit): string {
  if (h.answers.length > 0) return h.answers.join(',') + (h.moreAnswers ? ',…' : '');
  return `(${h.rcodes.join(',')})`;
}

export function formatHits(hits: readonly HuntHit[]): string {
  const head = ['CLIENT', 'NAME', 'INDICATOR', 'FIRST', 'LAST', 'COUNT', 'ANSWERS'];
  const rows = hits.map((h) => [h.client, h.name, h.matchedIndicator, iso(h.firstSeen), iso(h.lastSeen), String(h.count), answersCell(h)]);
  const width = head.map((t, i) => Math.max(t.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : i === 5 ? c.padStart(width[i]!) : c.padEnd(width[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** One line on a terminal's stderr, redrawn at most ten times a second, shown only for hunts over half a second. */
class ProgressBar {
  private readonly t0 = performance.now();
  private last = 0;
  private shown = false;

  constructor(private readonly out: { write(s: string): unknown; columns?: number }) {}

  update(p: HuntProgress): void {
    const t = performance.now();
    if (t - this.t0 < 500 || (t - this.last < 100 && p.segmentsDone < p.segmentsTotal)) return;
    this.last = t;
    const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.segmentsTotal > 0 ? p.segmentsDone / p.segmentsTotal : 1;
    const text = ` ${Math.floor(frac * 100)}%  ${p.segmentsDone}/${p.segmentsTotal} segments  ${(p.records / 1e6).toFixed(1)}M queries`;
    const cols = Math.max(20, Math.min(this.out.columns ?? 80, 120));
    const barLen = Math.max(10, cols - text.length - 3);
    const filled = Math.round(frac * barLen);
    this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(barLen - filled)}]${text}`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
