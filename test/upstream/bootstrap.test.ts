// upstream.bootstrap: the addresses of a named tls:// or https:// upstream from plain DNS servers,
// over real UDP to scripted servers: A and AAAA, either family enough, the next server when one
// fails, kept for the TTL (one lookup), a stale answer kept when every server fails, and an error
// naming each server when nothing was ever learnt.
import { afterEach, describe, expect, it } from 'vitest';
import { BootstrapResolver } from '../../src/upstream/bootstrap.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const open: Upstream[] = [];
afterEach(async () => {
  for (const u of open.splice(0)) await u.close();
});
const server = async (script: Parameters<typeof startUpstream>[0]): Promise<Upstream> => {
  const u = await startUpstream(script);
  open.push(u);
  return u;
};
const hp = (u: Upstream) => ({ host: '127.0.0.1', port: u.port, family: 4 as const });

describe('BootstrapResolver', () => {
  it('asks A and AAAA, IPv4 first, and keeps the answer for its TTL', async () => {
    const s = await server((q) =>
      q.type === T.A
        ? { answers: [{ name: q.name, type: T.A, address: '192.0.2.7', ttl: 300 }] }
        : { answers: [{ name: q.name, type: T.AAAA, address: '2001:db8::7', ttl: 300 }] },
    );
    let now = 1_000_000;
    const r = new BootstrapResolver([hp(s)], 500, () => now);
    expect(await r.lookup('dns.test')).toEqual(['192.0.2.7', '2001:db8::7']);
    expect(await r.lookup('dns.test')).toEqual(['192.0.2.7', '2001:db8::7']);
    expect(s.received).toHaveLength(2);
    now += 301_000;
    await r.lookup('dns.test');
    expect(s.received).toHaveLength(4);
  });

  it('an AAAA lookup that times out does not cost the A records', async () => {
    const s = await server((q) => (q.type === T.A ? { answers: [{ name: q.name, type: T.A, address: '192.0.2.8', ttl: 60 }] } : { drop: true }));
    const r = new BootstrapResolver([hp(s)], 200);
    expect(await r.lookup('dns.test')).toEqual(['192.0.2.8']);
  });

  it('moves to the next server, keeps a stale answer when all fail, and says why when it has none', async () => {
    const dead = await server(() => ({ drop: true }));
    const empty = await server(() => ({ rcode: 3 }));
    let alive = true;
    const good = await server((q) => (alive && q.type === T.A ? { answers: [{ name: q.name, type: T.A, address: '192.0.2.9', ttl: 60 }] } : alive ? {} : { drop: true }));
    let now = 0;
    const r = new BootstrapResolver([hp(dead), hp(empty), hp(good)], 150, () => now);
    expect(await r.lookup('dns.test')).toEqual(['192.0.2.9']);
    alive = false;
    now += 61_000;
    expect(await r.lookup('dns.test')).toEqual(['192.0.2.9']); // stale beats none
    await expect(r.lookup('other.test')).rejects.toThrow(/cannot resolve other\.test through upstream\.bootstrap \(127\.0\.0\.1: no answer.*127\.0\.0\.1: no A or AAAA record.*127\.0\.0\.1: no answer/);
  });
});
