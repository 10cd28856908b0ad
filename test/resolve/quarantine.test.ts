// Quarantine: a client that asks for a C2-tagged name is answered with the sinkhole for every
// name except the remediation allowlist, until released or expired; the state survives a restart.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuarantineStore } from '../../src/quarantine/store.js';
import { ask } from '../helpers/client.js';
import { startC2dns } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { edeOf, T } from '../helpers/wire.js';

let up: Upstream;
const stateDir = mkdtempSync(join(tmpdir(), 'c2dns-q-'));
beforeAll(async () => {
  up = await startUpstream(
    zoneScript({
      'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10' }],
      'update.vendor.example 1': [{ name: 'update.vendor.example', type: T.A, address: '192.0.2.20' }],
    }),
  );
});
afterAll(async () => up.close());

const config = () => ({
  upstreams: [`127.0.0.1:${up.port}`],
  state: { dir: stateDir },
  cache: { maxEntries: 0 },
  quarantine: { enabled: true, durationMinutes: 60, allow: ['vendor.example'] },
  lists: [
    { name: 'c2', path: 'c2.txt', tags: ['c2', '3cx'] },
    { name: 'ads', path: 'ads.txt', tags: ['ads'] },
  ],
});
const files = { 'c2.txt': 'akamaicontainer.com\n', 'ads.txt': 'ads.example\n' };

describe('quarantine', () => {
  it('isolates a client after a C2 hit, keeps remediation names reachable, leaves other clients alone', async () => {
    const c2 = await startC2dns(config(), files);
    try {
      expect((await ask(c2.port, 'example.org', T.A, { from: '127.0.0.1' })).packet.answers[0]!.address).toBe('192.0.2.10');
      // A non-C2 block does not quarantine.
      await ask(c2.port, 'ads.example', T.A, { from: '127.0.0.1' });
      expect(c2.server.quarantineStore.size).toBe(0);

      await ask(c2.port, 'akamaicontainer.com', T.A, { from: '127.0.0.1' });
      expect(c2.server.quarantineStore.list().map((e) => e.client)).toEqual(['127.0.0.1']);

      // Over TCP: the EDE text of a blocked answer does not fit the UDP amplification cap.
      const isolated = await ask(c2.port, 'example.org', T.A, { from: '127.0.0.1', edns: {}, tcp: true });
      expect(isolated.packet.answers[0]!.address).toBe('0.0.0.0');
      expect(edeOf(isolated.packet)[0]!.text).toMatch(/client quarantined .*akamaicontainer\.com/);
      const mx = await ask(c2.port, 'example.org', T.MX, { from: '127.0.0.1' });
      expect(mx.packet.answers).toHaveLength(0);
      expect(mx.packet.authorities[0]!.type).toBe(T.SOA);

      expect((await ask(c2.port, 'update.vendor.example', T.A, { from: '127.0.0.1' })).packet.answers[0]!.address).toBe('192.0.2.20');
      expect((await ask(c2.port, 'example.org', T.A, { from: '127.0.0.2' })).packet.answers[0]!.address).toBe('192.0.2.10');

      const lines = await c2.waitForLog(7);
      expect(lines.find((l) => l.client === '127.0.0.1' && l.qname === 'example.org' && l.action === 'blocked')).toMatchObject({ list: null, rule: null, decidedBy: 'quarantine', trigger: 'client-ip', chain: ['127.0.0.1'] });
    } finally {
      await c2.close();
    }
  });

  it('survives a restart, and a released client resolves normally again', async () => {
    const c2 = await startC2dns(config(), files);
    try {
      expect((await ask(c2.port, 'example.org', T.A, { from: '127.0.0.1' })).packet.answers[0]!.address).toBe('0.0.0.0');
      expect(c2.server.quarantineStore.release('127.0.0.1')).toBe(true);
      expect((await ask(c2.port, 'example.org', T.A, { from: '127.0.0.1' })).packet.answers[0]!.address).toBe('192.0.2.10');
    } finally {
      await c2.close();
    }
  });

  it('expires entries at their end time', () => {
    let now = 1_000_000;
    const store = new QuarantineStore(mkdtempSync(join(tmpdir(), 'c2dns-q-')), () => now);
    store.add('10.0.0.5', 'manual', 60_000);
    expect(store.get('10.0.0.5')).toBeDefined();
    now += 60_000;
    expect(store.get('10.0.0.5')).toBeUndefined();
    expect(store.list()).toEqual([]);
  });
});
