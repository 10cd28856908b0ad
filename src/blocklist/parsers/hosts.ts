// hosts(5) format: "ADDRESS NAME [NAME...]". The address is the list author's sinkhole and is
// ignored (our answer is configured); the names block themselves and their subdomains.
import { isIP } from 'node:net';
import { normalizeDomain } from '../domain.js';
import type { ListEntry } from '../rule.js';
import { forEachLine } from './lines.js';
import type { ParseReport } from './report.js';

/** Names every hosts file carries for the machine itself; never list entries. */
const BOILERPLATE = new Set([
  'localhost',
  'localhost.localdomain',
  'local',
  'broadcasthost',
  'ip6-localhost',
  'ip6-loopback',
  'ip6-localnet',
  'ip6-mcastprefix',
  'ip6-allnodes',
  'ip6-allrouters',
  'ip6-allhosts',
  '0.0.0.0',
]);

export function parseHosts(text: string, report: ParseReport): ListEntry[] {
  const out: ListEntry[] = [];
  forEachLine(text, (content, line, raw) => {
    const fields = content.split(/\s+/);
    if (fields.length < 2 || isIP(fields[0]!) === 0) {
      report.reject(line, raw, 'not "ADDRESS NAME [NAME...]"');
      return;
    }
    for (let i = 1; i < fields.length; i++) {
      const f = fields[i]!;
      if (BOILERPLATE.has(f.toLowerCase())) continue;
      const n = normalizeDomain(f);
      if (!n.ok) {
        report.reject(line, raw, `${f}: ${n.reason}`);
        continue;
      }
      report.accepted++;
      out.push({ name: n.name, match: null, line });
    }
  });
  return out;
}
