// Clients behind a router, with a real router: Debian's dnsmasq forwarding to c2dns with
// --add-subnet=32,128 --add-mac, as OpenWrt would. Over loopback (127.0.0.2 and 127.0.0.3 asking
// dnsmasq on 127.0.0.1) c2dns sees the two hosts through Client Subnet; there is no neighbour
// entry on loopback, so dnsmasq adds no MAC there. The MAC is tested with LAN hosts in network
// namespaces joined by veth pairs (root only; skipped with a message otherwise). Needs dnsmasq
// (Debian: dnsmasq-base) and, for the namespace hosts, dig (dnsutils); .ci/run installs both.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hunt } from '../../src/history/hunt.js';
import type { QuarantineEntry } from '../../src/quarantine/store.js';
import type { SecurityEvent } from '../../src/respond/security-events.js';
import { ask, sendUdp } from '../helpers/client.js';
import { buildCli, runCli } from '../helpers/cli.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { findDnsmasq, startDnsmasq, type Dnsmasq } from '../helpers/dnsmasq.js';
import { cpeId, ecs, mac, optionsOf, queryWith } from '../helpers/edns-options.js';
import { createLan, netnsUnavailable, type Lan } from '../helpers/netns.js';
import { startUpstream, type Script, type Upstream } from '../helpers/upstream.js';
import { decode, T } from '../helpers/wire.js';

const hasDnsmasq = findDnsmasq() !== null;
const inCi = process.env.CI === 'true';
if (!hasDnsmasq && !inCi) console.warn('test/e2e/dnsmasq.test.ts: dnsmasq is not installed (apt-get install dnsmasq-base): these tests are skipped');

const UPSTREAM_ADDRESS = '192.0.2.80';
const C2_NAME = 'akamaicontainer.com'; // bundled 3CX list, tagged c2
/** EDNS options that identify a client; none may ever reach the upstream (ECS only with forwardEcs). */
const CLIENT_OPTIONS = [8, 65001, 65073, 65074];

const TOKEN = 'router-test-token-0123456789';

const answerEverything: Script = (q) => (q.type === T.A ? { answers: [{ name: q.name, type: T.A, address: UPSTREAM_ADDRESS }] } : {});

/** The address in an A answer, or null. */
function addressOf(raw: Buffer): string | null {
  const a = decode(raw).answers.find((r) => r.type === T.A) as { address?: string } | undefined;
  return a?.address ?? null;
}

async function lineFor(c2: TestServer, qname: string, client: string): Promise<Record<string, unknown>> {
  const end = Date.now() + 3000;
  for (;;) {
    const line = c2.logLines().find((l) => l.qname === qname && l.client === client);
    if (line !== undefined) return line;
    if (Date.now() > end) throw new Error(`no log line for ${qname} from ${client}; lines: ${JSON.stringify(c2.logLines().slice(-5))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function clientOptionsSeenUpstream(up: Upstream): { name: string; codes: number[] }[] {
  return up.received.map((q) => ({ name: q.name, codes: optionsOf(q.raw).map((o) => o.code).filter((c) => CLIENT_OPTIONS.includes(c)) })).filter((x) => x.codes.length > 0);
}

async function metric(c2: TestServer, name: string): Promise<string> {
  const text = await c2.server.metrics.render();
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

describe.skipIf(!hasDnsmasq && !inCi)('behind dnsmasq (--add-subnet=32,128 --add-mac) over loopback', () => {
  let up: Upstream;
  let c2: TestServer;
  let dm: Dnsmasq;

  beforeAll(async () => {
    up = await startUpstream(answerEverything);
    c2 = await startC2dns({
      upstreams: [`127.0.0.1:${up.port}`],
      clients: { trustedForwarders: ['127.0.0.1/32'], names: { '127.0.0.3': 'printer', '127.0.0.9': 'forger' } },
      quarantine: { enabled: true },
      admin: { listen: '127.0.0.1:0', token: TOKEN },
    });
    dm = await startDnsmasq({ server: `127.0.0.1#${c2.port}`, args: ['--add-subnet=32,128', '--add-mac'] });
  });

  afterAll(async () => {
    await dm?.close();
    await c2?.close();
    await up?.close();
  });

  it('logs the two hosts behind it as two clients, via dnsmasq', async () => {
    expect(addressOf((await ask(dm.port, 'one.example', T.A, { from: '127.0.0.2' })).raw)).toBe(UPSTREAM_ADDRESS);
    expect(addressOf((await ask(dm.port, 'two.example', T.A, { from: '127.0.0.3' })).raw)).toBe(UPSTREAM_ADDRESS);
    const one = await lineFor(c2, 'one.example', '127.0.0.2');
    const two = await lineFor(c2, 'two.example', '127.0.0.3');
    expect(one).toMatchObject({ client: '127.0.0.2', via: '127.0.0.1', mac: null, clientName: null, action: 'allowed' });
    expect(two).toMatchObject({ client: '127.0.0.3', via: '127.0.0.1', mac: null, clientName: 'printer', action: 'allowed' });
  });

  it('quarantines only the host that asked for a C2 name, not the router nor its other host', async () => {
    expect(addressOf((await ask(dm.port, C2_NAME, T.A, { from: '127.0.0.2' })).raw)).toBe('0.0.0.0');
    expect(await lineFor(c2, C2_NAME, '127.0.0.2')).toMatchObject({ action: 'blocked', via: '127.0.0.1', list: '3cx' });
    const entries: QuarantineEntry[] = c2.server.quarantineStore.list();
    expect(entries.map((e) => ({ client: e.client, address: e.address, via: e.via }))).toEqual([{ client: '127.0.0.2', address: '127.0.0.2', via: '127.0.0.1' }]);

    // The other host behind the same router still gets answers; the quarantined one does not.
    expect(addressOf((await ask(dm.port, 'after.example', T.A, { from: '127.0.0.3' })).raw)).toBe(UPSTREAM_ADDRESS);
    expect(addressOf((await ask(dm.port, 'after2.example', T.A, { from: '127.0.0.2' })).raw)).toBe('0.0.0.0');
    expect(await lineFor(c2, 'after2.example', '127.0.0.2')).toMatchObject({ decidedBy: 'quarantine', chain: ['127.0.0.2'], via: '127.0.0.1' });
    expect(await lineFor(c2, 'after.example', '127.0.0.3')).toMatchObject({ action: 'allowed', decidedBy: null });

    const hits = (c2.server.alerting?.events.since(0) ?? []).filter((e: SecurityEvent) => e.type === 'c2-hit');
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ client: '127.0.0.2', via: '127.0.0.1', mac: null, clientName: null, identity: null, qname: C2_NAME });
    const q = (c2.server.alerting?.events.since(0) ?? []).filter((e: SecurityEvent) => e.type === 'client-quarantined');
    expect(q[0]).toMatchObject({ client: '127.0.0.2', via: '127.0.0.1', mac: null });
  });

  it('ignores and counts the same options from a source it does not trust', async () => {
    // 127.0.0.9 claims to be 127.0.0.3 (the printer) with a MAC and a CPE-ID, and asks for a C2 name.
    const forged = queryWith(C2_NAME, T.A, [ecs('127.0.0.3', 32), mac('02:00:00:00:00:03'), cpeId('site-7')]);
    expect(addressOf(await sendUdp(c2.port, forged, { from: '127.0.0.9' }))).toBe('0.0.0.0');
    expect(await lineFor(c2, C2_NAME, '127.0.0.9')).toMatchObject({ client: '127.0.0.9', via: null, mac: null, clientName: 'forger', action: 'blocked' });
    // The forger is quarantined, the host it named is not.
    const keys = c2.server.quarantineStore.list().map((e) => e.client);
    expect(keys).toContain('127.0.0.9');
    expect(keys).not.toContain('127.0.0.3');
    expect(addressOf((await ask(dm.port, 'still-fine.example', T.A, { from: '127.0.0.3' })).raw)).toBe(UPSTREAM_ADDRESS);
    expect(await metric(c2, 'c2dns_client_options_ignored_total')).toBe(
      'c2dns_client_options_ignored_total{reason="untrusted"} 1\nc2dns_client_options_ignored_total{reason="malformed"} 0',
    );
  });

  it('never sends ECS, MAC or CPE-ID upstream, even what the trusted router sent', async () => {
    // Straight from the trusted address, with every option: still nothing of it upstream.
    const all = queryWith('direct-trusted.example', T.A, [ecs('127.0.0.4', 32), mac('02:00:00:00:00:04'), mac('02:00:00:00:00:04', 'text'), cpeId('site-7')]);
    expect(addressOf(await sendUdp(c2.port, all, { from: '127.0.0.1' }))).toBe(UPSTREAM_ADDRESS);
    expect(await lineFor(c2, 'direct-trusted.example', '127.0.0.4')).toMatchObject({ mac: '02:00:00:00:00:04', via: '127.0.0.1' });
    expect(up.received.some((q) => q.name === 'direct-trusted.example')).toBe(true);
    expect(up.received.filter((q) => q.name.endsWith('.example')).length).toBeGreaterThanOrEqual(5);
    expect(clientOptionsSeenUpstream(up)).toEqual([]);
  });

  it('with the default cache, one host behind the router gets the answer another host caused (no ECS upstream, one cache)', async () => {
    const n = up.received.filter((q) => q.name === 'shared.example').length;
    await ask(dm.port, 'shared.example', T.A, { from: '127.0.0.3' });
    await ask(dm.port, 'shared.example', T.A, { from: '127.0.0.4' });
    expect(up.received.filter((q) => q.name === 'shared.example').length - n).toBe(1);
    expect(await lineFor(c2, 'shared.example', '127.0.0.4')).toMatchObject({ action: 'cached', via: '127.0.0.1' });
  });

  it('the admin API lists the host with its router, and releases it by its IP', async () => {
    const res = await fetch(`${c2.server.admin!.url}/api/quarantine`);
    const body = (await res.json()) as { clients: { client: string; address: string; via: string | null; mac: string | null; name: string | null }[] };
    expect(body.clients.find((c) => c.client === '127.0.0.2')).toMatchObject({ address: '127.0.0.2', via: '127.0.0.1', mac: null, name: null });
    const del = await fetch(`${c2.server.admin!.url}/api/quarantine/127.0.0.2`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await del.json()).toEqual({ released: '127.0.0.2' });
    expect(addressOf((await ask(dm.port, 'back.example', T.A, { from: '127.0.0.2' })).raw)).toBe(UPSTREAM_ADDRESS);
  });

  it('`c2dns quarantine release NAME` releases a client by its name (clients.names)', async () => {
    expect(c2.server.quarantineStore.list().map((e) => [e.client, e.name])).toEqual([['127.0.0.9', 'forger']]);
    const built = buildCli();
    try {
      const cli = runCli(built.cliJs, ['quarantine', 'release', 'forger', '--admin', c2.server.admin!.url, '--token', TOKEN]);
      expect((await cli.exited).code, cli.stderr()).toBe(0);
    } finally {
      built.cleanup();
    }
    expect(c2.server.quarantineStore.size).toBe(0);
  }, 60_000);

  it('records the real clients in the query history, so a hunt finds each host behind the router', async () => {
    await c2.server.history!.flush();
    const hits = await hunt(join(c2.dir, 'state', 'history'), { names: ['shared.example', C2_NAME], since: 0 });
    expect(hits.map((h) => [h.client, h.name]).sort()).toEqual([
      ['127.0.0.2', C2_NAME],
      ['127.0.0.3', 'shared.example'],
      ['127.0.0.4', 'shared.example'],
      ['127.0.0.9', C2_NAME],
    ]);
  });
});

describe.skipIf(!hasDnsmasq && !inCi)('behind dnsmasq with clients.forwardEcs', () => {
  let up: Upstream;
  let c2: TestServer;
  let dm: Dnsmasq;

  beforeAll(async () => {
    up = await startUpstream(answerEverything);
    c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], clients: { trustedForwarders: ['127.0.0.1/32'], forwardEcs: true } });
    dm = await startDnsmasq({ server: `127.0.0.1#${c2.port}`, args: ['--add-subnet=32,128', '--add-mac'] });
  });

  afterAll(async () => {
    await dm?.close();
    await c2?.close();
    await up?.close();
  });

  it("sends each host's Client Subnet upstream and caches per subnet; never a MAC or CPE-ID", async () => {
    await ask(dm.port, 'same.example', T.A, { from: '127.0.0.2' });
    await ask(dm.port, 'same.example', T.A, { from: '127.0.0.3' });
    await ask(dm.port, 'same.example', T.A, { from: '127.0.0.2' }); // from the cache: same subnet
    const sent = up.received.filter((q) => q.name === 'same.example').map((q) => optionsOf(q.raw).filter((o) => CLIENT_OPTIONS.includes(o.code)));
    expect(sent.map((opts) => opts.map((o) => `${o.code}:${o.data.toString('hex')}`))).toEqual([
      ['8:000120007f000002'], // family 1, /32, scope 0, 127.0.0.2
      ['8:000120007f000003'],
    ]);
    const lines = (await c2.waitForQueries(['same.example'], 3)).filter((l) => l.qname === 'same.example');
    expect(lines.map((l) => [l.client, l.action])).toEqual([
      ['127.0.0.2', 'allowed'],
      ['127.0.0.3', 'allowed'],
      ['127.0.0.2', 'cached'],
    ]);

    const all = queryWith('mac-never.example', T.A, [mac('02:00:00:00:00:05'), cpeId('site-7'), ecs('10.0.0.0', 24)]);
    await sendUdp(c2.port, all, { from: '127.0.0.1' });
    const q = up.received.find((r) => r.name === 'mac-never.example')!;
    expect(optionsOf(q.raw).map((o) => o.code)).toEqual([8, 10]); // the ECS, and c2dns' own DNS Cookie (upstream.cookies)
  });
});

// ---------------------------------------------------------------- real MACs, from namespaces

const noNetns = netnsUnavailable();
let hasDig = true;
try {
  execFileSync('dig', ['-v'], { stdio: 'ignore' });
} catch {
  hasDig = false;
}
const lanSkip = !hasDnsmasq ? 'dnsmasq is not installed' : !hasDig ? 'dig is not installed' : noNetns;
if (lanSkip !== null) console.warn(`test/e2e/dnsmasq.test.ts: the MAC tests with LAN hosts in network namespaces are skipped (${lanSkip}); the MAC reader is covered by test/dns/client-options.test.ts with dnsmasq's captured bytes`);

describe.skipIf(lanSkip !== null)('behind dnsmasq with LAN hosts in network namespaces (real MACs)', () => {
  const ALICE = '02:c2:d5:00:00:0a';
  const BOB = '02:c2:d5:00:00:0b';
  let lan: Lan;
  let up: Upstream;
  let c2: TestServer;
  let dm: Dnsmasq;

  const dig = async (host: number, name: string): Promise<string> => {
    const h = lan.hosts[host]!;
    const { stdout } = await h.exec('dig', [`@${h.gateway}`, '-p', String(dm.port), '+tries=1', '+time=3', '+short', name, 'A']);
    return stdout.trim();
  };

  beforeAll(async () => {
    lan = createLan([ALICE, BOB]);
    up = await startUpstream(answerEverything);
    c2 = await startC2dns({
      upstreams: [`127.0.0.1:${up.port}`],
      clients: { trustedForwarders: ['127.0.0.1/32'], names: { [ALICE.toUpperCase().replaceAll(':', '-')]: 'alice-laptop' } },
      quarantine: { enabled: true },
      admin: { listen: '127.0.0.1:0', token: TOKEN },
    });
    dm = await startDnsmasq({ server: `127.0.0.1#${c2.port}`, listen: ['127.0.0.1', ...lan.hosts.map((h) => h.gateway)], args: ['--add-subnet=32,128', '--add-mac'] });
  });

  afterAll(async () => {
    await dm?.close();
    await c2?.close();
    await up?.close();
    lan?.remove();
  });

  it('logs each host with its address, MAC and name, via dnsmasq', async () => {
    const [alice, bob] = lan.hosts as [typeof lan.hosts[0], typeof lan.hosts[0]];
    expect(await dig(0, 'hello.example')).toBe(UPSTREAM_ADDRESS);
    expect(await dig(1, 'hello.example')).toBe(UPSTREAM_ADDRESS);
    expect(await lineFor(c2, 'hello.example', alice.address)).toMatchObject({ client: alice.address, mac: ALICE, clientName: 'alice-laptop', via: '127.0.0.1' });
    expect(await lineFor(c2, 'hello.example', bob.address)).toMatchObject({ client: bob.address, mac: BOB, clientName: null, via: '127.0.0.1' });
    // dnsmasq does not cache a question it added a host's subnet and MAC to: both reached c2dns
    // (two log lines above); c2dns asked its upstream once and answered the second from its cache.
    expect(up.received.filter((q) => q.name === 'hello.example')).toHaveLength(1);
    expect(clientOptionsSeenUpstream(up)).toEqual([]);
  });

  it('quarantines a host by its MAC, raises c2-hit with its name and MAC, and releases it by name', async () => {
    const [alice] = lan.hosts as [typeof lan.hosts[0]];
    expect(await dig(0, C2_NAME)).toBe('0.0.0.0');
    const line = await lineFor(c2, C2_NAME, alice.address);
    expect(line).toMatchObject({ action: 'blocked', mac: ALICE, clientName: 'alice-laptop', via: '127.0.0.1' });
    expect(c2.server.quarantineStore.list().map((e) => [e.client, e.address, e.name])).toEqual([[ALICE, alice.address, 'alice-laptop']]);
    const hit = (c2.server.alerting?.events.since(0) ?? []).find((e: SecurityEvent) => e.type === 'c2-hit');
    expect(hit).toMatchObject({ client: alice.address, identity: 'alice-laptop', mac: ALICE, clientName: 'alice-laptop', via: '127.0.0.1' });

    expect(await dig(1, 'after.example')).toBe(UPSTREAM_ADDRESS); // bob, same router
    expect(await dig(0, 'after.example')).toBe('0.0.0.0'); // alice, by MAC
    expect(await lineFor(c2, 'after.example', alice.address)).toMatchObject({ decidedBy: 'quarantine', chain: [ALICE] });

    const res = await fetch(`${c2.server.admin!.url}/api/quarantine/alice-laptop`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ released: 'alice-laptop' });
    expect(c2.server.quarantineStore.size).toBe(0);
    expect(await dig(0, 'released.example')).toBe(UPSTREAM_ADDRESS);
    const released = (c2.server.alerting?.events.since(0) ?? []).find((e: SecurityEvent) => e.type === 'client-released');
    expect(released).toMatchObject({ client: alice.address, mac: ALICE, clientName: 'alice-laptop', actor: 'api 127.0.0.1' });
  });
});
