// Access control: only configured client networks are served; everyone else gets REFUSED + EDE 18.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { edeOf, T } from '../helpers/wire.js';

let up: Upstream;
let c2: TestServer;
beforeAll(async () => {
  up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10' }] }));
  // c2dns listens on 127.0.0.1; the outside client sends from 127.0.0.2.
  c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], access: { allow: ['127.0.0.1/32', '10.0.0.0/8'] } });
});
afterAll(async () => {
  await c2.close();
  await up.close();
});

describe('access control', () => {
  it('serves a client inside an allowed network', async () => {
    const { packet } = await ask(c2.port, 'example.org', T.A, { from: '127.0.0.1' });
    expect(packet.header.rcode).toBe(0);
    expect(packet.answers[0]!.address).toBe('192.0.2.10');
  });

  it('refuses a client outside every allowed network, before policy or upstream', async () => {
    const before = up.received.length;
    const { packet } = await ask(c2.port, 'example.org', T.A, { from: '127.0.0.2', edns: {} });
    expect(packet.header.rcode).toBe(5);
    expect(packet.answers).toHaveLength(0);
    expect(edeOf(packet).map((e) => e.infoCode)).toEqual([18]);
    expect(up.received.length).toBe(before);
  });

  it('refuses over TCP as well', async () => {
    const { packet } = await ask(c2.port, 'example.org', T.A, { from: '127.0.0.2', tcp: true });
    expect(packet.header.rcode).toBe(5);
  });

  it('logs the refusal with the client address, even for a blocklisted name', async () => {
    const { packet } = await ask(c2.port, 'akamaicontainer.com', T.A, { from: '127.0.0.2' });
    expect(packet.header.rcode).toBe(5);
    const lines = await c2.waitForLog(4);
    expect(lines.find((l) => l.client === '127.0.0.2' && l.qname === 'akamaicontainer.com')).toMatchObject({ action: 'refused', rcode: 'REFUSED' });
  });
});
