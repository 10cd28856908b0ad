// A strict reader for the Prometheus text exposition format (0.0.4), so tests assert on values
// rather than on substrings, and fail on any line a Prometheus server would not accept.

export interface Family {
  name: string;
  help: string;
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y;

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < s.length) {
    const m = LABEL.exec(s);
    if (m === null) throw new Error(`bad label set {${s}}`);
    out[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
  }
  return out;
}

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN' || s === 'Nan') return NaN;
  const n = Number(s);
  if (s === '' || Number.isNaN(n)) throw new Error(`bad sample value "${s}"`);
  return n;
}

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | null = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m !== null) {
      if (!NAME.test(m[1]!)) throw new Error(`bad metric name ${m[1]}`);
      if (families.has(m[1]!)) throw new Error(`metric ${m[1]} described twice`);
      current = { name: m[1]!, help: m[2]!, type: '', samples: [] };
      families.set(current.name, current);
      continue;
    }
    m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m !== null) {
      if (current === null || current.name !== m[1]) throw new Error(`TYPE without HELP for ${m[1]}`);
      current.type = m[2]!;
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment: ${line}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`bad sample line: ${line}`);
    if (current === null) throw new Error(`sample before any HELP: ${line}`);
    const name = m[1]!;
    const allowed = current.type === 'histogram' ? [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`] : [current.name];
    if (!allowed.includes(name)) throw new Error(`sample ${name} inside family ${current.name}`);
    current.samples.push({ name, labels: parseLabels(m[2] ?? ''), value: parseValue(m[3]!) });
  }
  return families;
}

/** The value of the one sample with exactly these labels, or undefined. */
export function sample(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const fam = families.get(name) ?? families.get(base);
  if (fam === undefined) return undefined;
  const want = JSON.stringify(Object.entries(labels).sort());
  const hits = fam.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
  if (hits.length > 1) throw new Error(`${name} ${want} appears ${hits.length} times`);
  return hits[0]?.value;
}
