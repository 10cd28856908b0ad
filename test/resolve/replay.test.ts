// Replay fixtures (Unbound's testdata/*.rpl idea): each file in test/fixtures/replay/ holds a
// config, list files, a scripted upstream and a sequence of queries with the expected answers,
// upstream traffic and query-log fields. Adding a behaviour case is adding a YAML file.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { rcodeName, RType } from '../../src/dns/constants.js';
import { ask } from '../helpers/client.js';
import { startC2dns } from '../helpers/c2dns.js';
import { startUpstream, type ScriptedReply } from '../helpers/upstream.js';
import { edeOf, type DecodedPacket, type Rr } from '../helpers/wire.js';

interface Fixture {
  description: string;
  config: Record<string, unknown>;
  files?: Record<string, string>;
  upstream: { name: string; type: keyof typeof RType; answer?: string[]; authority?: string[]; rcode?: string }[];
  steps: {
    query: { name: string; type: keyof typeof RType; edns?: boolean; tcp?: boolean };
    expect: { rcode: string; answer: string[]; authority?: string[]; ede?: number[]; upstreamQueries?: number; log?: Record<string, unknown> };
  }[];
}

const DIR = join(import.meta.dirname, '..', 'fixtures', 'replay');
const RCODES: Record<string, number> = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };

/** "name ttl TYPE data" → a record for the scripted upstream. */
function rr(text: string): Rr {
  const [name, ttl, type, data] = text.split(/\s+/) as [string, string, keyof typeof RType, string | undefined];
  const base = { name, ttl: Number(ttl), type: RType[type] };
  if (type === 'SOA') return { ...base, primary: 'ns.example', admin: 'hostmaster.example', serial: 1, refresh: 3600, retry: 600, expiration: 86400, minimum: 60 };
  return { ...base, address: data };
}

/** A decoded record back in the fixture's "name ttl TYPE data" form. */
function show(r: DecodedPacket['answers'][number]): string {
  const type = Object.entries(RType).find(([, v]) => v === r.type)?.[0] ?? `TYPE${r.type}`;
  if (r.type === RType.SOA) return `${r.name} ${r.ttl} SOA`;
  const addr = r.type === RType.AAAA ? new URL(`http://[${r.address}]/`).hostname.slice(1, -1) : r.address;
  return `${r.name} ${r.ttl} ${type} ${addr}`;
}

for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml'))) {
  const fx = YAML.parse(readFileSync(join(DIR, file), 'utf8')) as Fixture;
  describe(`replay ${file}`, () => {
    it(fx.description.trim(), async () => {
      const up = await startUpstream((q): ScriptedReply => {
        const s = fx.upstream.find((u) => u.name.toLowerCase() === q.name.toLowerCase() && RType[u.type] === q.type);
        if (!s) return { rcode: 3 };
        return { rcode: RCODES[s.rcode ?? 'NOERROR'], answers: (s.answer ?? []).map(rr), authorities: (s.authority ?? []).map(rr) };
      });
      const c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], ...fx.config }, fx.files ?? {});
      try {
        for (const [i, step] of fx.steps.entries()) {
          const before = up.received.length;
          const { packet } = await ask(c2.port, step.query.name, RType[step.query.type], { tcp: step.query.tcp, ...(step.query.edns ? { edns: {} } : {}) });
          const e = step.expect;
          const label = `step ${i + 1} (${step.query.name} ${step.query.type})`;
          expect(rcodeName(packet.header.rcode), label).toBe(e.rcode);
          expect(packet.answers.map(show), label).toEqual(e.answer);
          if (e.authority) expect(packet.authorities.map(show), label).toEqual(e.authority);
          if (e.ede) expect(edeOf(packet).map((x) => x.infoCode), label).toEqual(e.ede);
          if (e.upstreamQueries !== undefined) expect(up.received.length - before, label).toBe(e.upstreamQueries);
          if (e.log) {
            const lines = await c2.waitForLog(i + 1);
            expect(lines[i], label).toMatchObject(e.log);
          }
        }
      } finally {
        await c2.close();
        await up.close();
      }
    });
  });
}
