// MISP events (core format, draft-dulaunoy-misp-core-format) in the wrappers seen in practice:
// {"Event":…}, a bare event, a list of events, and the API's {"response":[{"Event":…}]}.
// Attributes live both in Event.Attribute[] and inside Event.Object[].Attribute[] (ESET puts
// every IOC in objects), so both are walked.
import { classifyToken, pushIp, pushName, type EntryExtras } from '../ioc.js';
import type { ListEntry } from '../rule.js';
import type { ParseReport } from './report.js';
import type { ParseOptions, Parser } from './types.js';
import { parseJsonFeed } from './json.js';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** MISP writes booleans as true/false, "1"/"0", 1/0 or "True"/"False" depending on version and export path. */
function flag(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === '1' || s === 'true') return true;
    if (s === '0' || s === 'false' || s === '') return false;
  }
  return undefined;
}

const isEventLike = (v: Record<string, unknown>) => Array.isArray(v['Attribute']) || Array.isArray(v['Object']);

/** Finds the events in any of the accepted wrappers; null when the document is none of them. */
function findEvents(doc: unknown): Record<string, unknown>[] | null {
  if (Array.isArray(doc)) {
    const out: Record<string, unknown>[] = [];
    for (const x of doc) {
      const ev = findEvents(x);
      if (ev === null) return null;
      out.push(...ev);
    }
    return out;
  }
  if (!isRecord(doc)) return null;
  if (isRecord(doc['Event'])) return [doc['Event']];
  if ('response' in doc) return findEvents(doc['response']);
  // restSearch on attributes answers {"response":{"Attribute":[…]}}: an event without a header.
  if (isEventLike(doc)) return [doc];
  return null;
}

function tagNames(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((t) => (isRecord(t) && typeof t['name'] === 'string' ? [t['name']] : []));
}

// ATT&CK technique clusters say how an actor works, not who it is: dozens per event, no use as a
// per-entry label. Actor, malware and TLP tags are kept.
const keepTag = (name: string) => !name.startsWith('misp-galaxy:mitre-');

const HASHES = /^(?:md5|sha1|sha224|sha256|sha384|sha512(?:\/\d+)?|sha3-\d+|ssdeep|imphash|tlsh|authentihash|vhash|pehash|impfuzzy|cdhash|telfhash|filename\|.+|x509-fingerprint-.+|ja3-fingerprint-md5|jarm-fingerprint|hassh(?:server)?-md5)$/;

export const parseMisp: Parser = (text, report, opts) => {
  const out: ListEntry[] = [];
  const doc = parseJsonFeed(text, report);
  if (doc === undefined) return out;
  const events = findEvents(doc);
  if (events === null) {
    const manifest = isRecord(doc) && Object.values(doc).length > 0 && Object.values(doc).every((v) => isRecord(v) && 'info' in v && !isEventLike(v));
    report.reject(
      0,
      text.slice(0, 200),
      manifest
        ? 'a MISP feed manifest (manifest.json): it lists events; configure each <uuid>.json event file instead'
        : 'not a MISP event: expected {"Event":…}, {"response":[{"Event":…}]}, a bare event with Attribute/Object, or a list of events',
    );
    return out;
  }
  for (const ev of events) {
    const eventTags = tagNames(ev['Tag']).filter(keepTag);
    const attrs = Array.isArray(ev['Attribute']) ? ev['Attribute'] : [];
    for (const a of attrs) takeAttribute(a, false, eventTags, out, report, opts);
    const objects = Array.isArray(ev['Object']) ? ev['Object'] : [];
    for (const o of objects) {
      if (!isRecord(o)) continue;
      const objDeleted = flag(o['deleted']) === true;
      const objAttrs = Array.isArray(o['Attribute']) ? o['Attribute'] : [];
      for (const a of objAttrs) takeAttribute(a, objDeleted, eventTags, out, report, opts);
    }
  }
  return out;
};

function takeAttribute(a: unknown, parentDeleted: boolean, eventTags: string[], out: ListEntry[], report: ParseReport, opts: ParseOptions): void {
  if (!isRecord(a)) return;
  const type = typeof a['type'] === 'string' ? a['type'] : '';
  const value = typeof a['value'] === 'string' ? a['value'] : typeof a['value'] === 'number' ? String(a['value']) : '';
  const uuid = typeof a['uuid'] === 'string' ? a['uuid'] : undefined;
  const shown = `${uuid ?? 'attribute'} ${type}: ${value}`;
  if (parentDeleted || flag(a['deleted']) === true) {
    report.ignore('deleted');
    return;
  }
  // to_ids MUST be present per the core format; when a hand-made event omits it the attribute is
  // taken, since only an explicit false says "context, not for detection".
  const ids = flag(a['to_ids']) !== false;
  const namesOk = ids || opts.mispIncludeNonIds === true;
  const tags = [...tagNames(a['Tag']).filter(keepTag), ...eventTags.filter((t) => !tagNames(a['Tag']).includes(t))];
  const extras: EntryExtras = {};
  if (uuid !== undefined) extras.ref = uuid;
  if (tags.length > 0) extras.tags = tags;

  const name = (v: string, more: EntryExtras = {}) => {
    if (!namesOk) report.ignore('not-to_ids');
    else pushName(out, report, v, 0, shown, { ...extras, ...more });
  };
  // Addresses with to_ids false are context (hosting, shared storage): never taken, whatever the option.
  const ip = (v: string) => {
    if (!ids) report.ignore('not-to_ids');
    else pushIp(report, v, 0, shown, uuid);
  };
  const bar = value.indexOf('|');
  const left = bar >= 0 ? value.slice(0, bar) : value;
  const right = bar >= 0 ? value.slice(bar + 1) : '';

  switch (type) {
    case 'domain':
    case 'hostname':
      name(value);
      return;
    case 'domain|ip':
      if (bar < 0) {
        report.reject(0, shown, 'domain|ip value without "|"');
        return;
      }
      name(left);
      if (right.trim() !== '') ip(right);
      return;
    case 'hostname|port':
      if (bar < 0) {
        report.reject(0, shown, 'hostname|port value without "|"');
        return;
      }
      name(left);
      return;
    case 'ip-src':
    case 'ip-dst':
      ip(value);
      return;
    case 'ip-src|port':
    case 'ip-dst|port': {
      // Also seen as "ip:port" in older events.
      const c = classifyToken(bar >= 0 ? left : value);
      ip(c.kind === 'ip' || c.kind === 'ip-port' ? c.ip : c.kind === 'cidr' ? c.cidr : left);
      return;
    }
    case 'link':
      // A reference to a report, not an indicator.
      report.ignore('link');
      return;
    case 'url':
    case 'uri': {
      const c = classifyToken(value);
      if (c.kind === 'url' || c.kind === 'host-path') {
        if (c.ip !== null) ip(c.ip);
        else name(c.host, { fromUrl: value });
      } else if (c.kind === 'hostname' && type === 'url') name(c.host, { fromUrl: value });
      else if (type === 'uri') report.ignore('uri-path');
      else report.reject(0, shown, 'url attribute that is not a URL');
      return;
    }
    default:
      if (HASHES.test(type)) report.ignore(type.startsWith('filename|') ? type.slice(9) : type);
      else if (type.startsWith('email')) report.ignore('email');
      else report.ignore(type === '' ? 'untyped' : type);
  }
}
