// DNS Cookies towards plain UDP upstreams (RFC 7873 §5.1, §5.3; issue 10): c2dns sends its own
// client cookie, returns the server cookie the upstream gave it, drops replies whose cookie is not
// its own (or carry none once the upstream has given it one), retries once on BADCOOKIE and then
// asks over TCP, and keeps working with upstreams that ignore cookies. Real packets between c2dns and a scripted upstream that speaks cookies.
import { afterEach, describe, expect, it } from 'vitest';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { sendUdp } from '../helpers/client.js';
import { option, optionIn, optionsOf, queryWith } from '../helpers/edns-options.js';
import { encodeReply, startUpstream, type ReceivedQuery, type Script, type ScriptedReply, type Upstream } from '../helpers/upstream.js';
import { buildQuery, decode, T } from '../helpers/wire.js';
import { UpstreamCookies } from '../../src/upstream/cookies.js';

const COOKIE = 10;
const BADCOOKIE = 23;

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

const cookieIn = (msg: Buffer): Buffer | null => optionIn(msg, COOKIE);

/** A reply as the scripted upstream encoded it (OPT last, empty), with `options` in its OPT and an extended rcode. */
function withOptions(reply: Buffer, options: Buffer[], rcode?: number): Buffer {
  const opts = Buffer.concat(options);
  const out = Buffer.concat([reply, opts]);
  out.writeUInt16BE(opts.length, reply.length - 2); // the OPT's RDLENGTH, its last fixed field
  if (rcode !== undefined) {
    out[3] = (out[3]! & 0xf0) | (rcode & 0x0f);
    out[reply.length - 6] = rcode >> 4; // the OPT TTL's first byte: the upper 8 bits of the rcode
  }
  return out;
}

const answer = (q: ReceivedQuery, address = '192.0.2.7'): ScriptedReply => ({ answers: [{ name: q.name, type: T.A, address }] });

/**
 * An upstream that speaks cookies (RFC 7873 §5.2): every reply to a query with a cookie echoes
 * its client cookie with the server cookie `current`; with `require`, a UDP query without that
 * server cookie gets BADCOOKIE (with the cookie to use), `badcookieAlways`: every UDP query does.
 */
async function cookieUpstream(o: { require?: boolean; badcookieAlways?: boolean } = {}): Promise<Upstream & { current: Buffer; script: Script }> {
  const state = { current: Buffer.from('server-cookie-01') };
  const script: Script = (q) => {
    const c = cookieIn(q.raw);
    if (c === null) return answer(q);
    const mine = Buffer.concat([c.subarray(0, 8), state.current]);
    const bad = q.transport === 'udp' && (o.badcookieAlways === true || (o.require === true && !c.equals(mine)));
    return { ...(bad ? {} : answer(q)), patch: (r) => withOptions(r, [option(COOKIE, mine)], bad ? BADCOOKIE : undefined) };
  };
  const up = await startUpstream(script);
  open.push(up);
  return Object.assign(up, state, { script });
}

async function c2dnsFor(up: Upstream, upstream: Record<string, unknown> = {}): Promise<TestServer> {
  const c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], upstream: { timeoutMs: 1000, ...upstream }, cache: { maxEntries: 0 } });
  open.push(c2);
  return c2;
}

const ask = async (c2: TestServer, name: string, edns = true) => decode(await sendUdp(c2.port, buildQuery(name, T.A, edns ? { edns: {} } : {})));

describe('DNS Cookies towards a plain UDP upstream', () => {
  it('sends an 8-byte client cookie, then the server cookie the upstream gave it (on by default)', async () => {
    const up = await cookieUpstream();
    const c2 = await c2dnsFor(up);
    expect((await ask(c2, 'one.example')).answers[0]!.address).toBe('192.0.2.7');
    expect((await ask(c2, 'two.example')).answers[0]!.address).toBe('192.0.2.7');
    const [first, second] = up.received.map((q) => cookieIn(q.raw));
    expect(first).toHaveLength(8);
    expect(second).toEqual(Buffer.concat([first!, up.current]));
    expect(c2.server.forward.cookies.stats).toMatchObject({ sent: 2, echoed: 2, forged: 0 });
  });

  it("the client's cookie is hop-by-hop: its own never goes upstream, the upstream's server cookie never comes back", async () => {
    const up = await cookieUpstream();
    const c2 = await c2dnsFor(up);
    const clientCookie = Buffer.from('clientck');
    const reply = await sendUdp(c2.port, queryWith('hop.example', T.A, [option(COOKIE, clientCookie)]));
    expect(decode(reply).answers[0]!.address).toBe('192.0.2.7');
    const sent = cookieIn(up.received[0]!.raw)!;
    expect(sent.subarray(0, 8).equals(clientCookie)).toBe(false);
    expect(optionsOf(up.received[0]!.raw).filter((o) => o.code === COOKIE)).toHaveLength(1);
    // c2dns answers with its own server cookie for the client's cookie, never the upstream's.
    const back = cookieIn(reply)!;
    expect(back.subarray(0, 8)).toEqual(clientCookie);
    expect(back.includes(up.current)).toBe(false);
  });

  it('drops a reply whose cookie is not ours as forged and takes the real answer that follows (RFC 7873 §5.3)', async () => {
    const up = await cookieUpstream();
    const c2 = await c2dnsFor(up);
    up.setScript((q) => {
      const c = cookieIn(q.raw)!;
      return {
        ...answer(q),
        delayMs: 50,
        patch: (r) => withOptions(r, [option(COOKIE, Buffer.concat([c.subarray(0, 8), up.current]))]),
        // Right ID, question and source port: only the cookie tells them apart.
        before: (_q, sendRaw) => {
          const forged = encodeReply(q, answer(q, '203.0.113.66'), null);
          sendRaw(withOptions(forged, [option(COOKIE, Buffer.concat([Buffer.from('notmine!'), up.current]))]));
          sendRaw(withOptions(encodeReply(q, answer(q, '203.0.113.67'), null), [option(COOKIE, c.subarray(0, 8))])); // no server cookie: malformed
        },
      };
    });
    expect((await ask(c2, 'target.example')).answers.map((a) => a.address)).toEqual(['192.0.2.7']);
    expect(c2.server.forward.cookies.stats.forged).toBe(2);
    expect(c2.server.forward.upstreams[0]!.counters.ignoredReplies).toBe(2);
    const scraped = await c2.server.metrics.registry.getSingleMetricAsString('c2dns_upstream_cookies_total');
    expect(scraped).toContain('c2dns_upstream_cookies_total{outcome="forged"} 2');
    expect(scraped).toContain('c2dns_upstream_cookies_total{outcome="echoed"} 1');
  });

  it('once the upstream has given a server cookie, a reply without any cookie is forged: dropped, the real answer taken (RFC 7873 §5.3)', async () => {
    const up = await cookieUpstream();
    const c2 = await c2dnsFor(up);
    expect((await ask(c2, 'learn.example')).answers[0]!.address).toBe('192.0.2.7');
    up.setScript((q) => {
      const c = cookieIn(q.raw)!;
      return {
        ...answer(q),
        delayMs: 50,
        patch: (r) => withOptions(r, [option(COOKIE, Buffer.concat([c.subarray(0, 8), up.current]))]),
        // Right ID, question and source port, an OPT but no COOKIE option: what an off-path forger who cannot see our cookie sends.
        before: (_q, sendRaw) => sendRaw(encodeReply(q, answer(q, '203.0.113.66'), null)),
      };
    });
    expect((await ask(c2, 'target.example')).answers.map((a) => a.address)).toEqual(['192.0.2.7']);
    expect(c2.server.forward.cookies.stats).toMatchObject({ echoed: 2, none: 0, forged: 1 });
    expect(c2.server.forward.upstreams[0]!.counters.ignoredReplies).toBe(1);
  });

  it('an upstream that stops speaking cookies loses one question (it times out), then is asked as one without cookies', async () => {
    const up = await cookieUpstream();
    const c2 = await c2dnsFor(up, { timeoutMs: 300, probeIntervalMs: 0 });
    expect((await ask(c2, 'learn.example')).answers[0]!.address).toBe('192.0.2.7');
    up.setScript((q) => answer(q)); // no COOKIE option any more
    expect((await ask(c2, 'dropped.example')).header.rcode).toBe(2);
    expect(c2.server.forward.cookies.stats.forged).toBe(1);
    expect((await ask(c2, 'taken.example')).answers[0]!.address).toBe('192.0.2.7');
    expect(c2.server.forward.cookies.stats).toMatchObject({ forged: 1, none: 1 });
    // Its next cookie marks it as speaking cookies again.
    up.setScript(up.script);
    await ask(c2, 'again.example');
    expect(c2.server.forward.cookies.stats.echoed).toBe(2);
  });

  it('BADCOOKIE: asks once more with the server cookie that came with it, and takes that answer', async () => {
    const up = await cookieUpstream({ require: true });
    const c2 = await c2dnsFor(up);
    const p = await ask(c2, 'strict.example');
    expect(p.header.rcode).toBe(0);
    expect(p.answers[0]!.address).toBe('192.0.2.7');
    const sent = up.received.map((q) => ({ transport: q.transport, cookie: cookieIn(q.raw)! }));
    expect(sent.map((s) => s.transport)).toEqual(['udp', 'udp']);
    expect(sent[0]!.cookie).toHaveLength(8);
    expect(sent[1]!.cookie).toEqual(Buffer.concat([sent[0]!.cookie, up.current]));
    expect(up.received[0]!.packet.header.id).not.toBe(up.received[1]!.packet.header.id);
    expect(c2.server.forward.cookies.stats).toMatchObject({ badcookieRetries: 1, tcpFallbacks: 0 });
    // The next question goes straight through with the cookie now known.
    await ask(c2, 'again.example');
    expect(up.received).toHaveLength(3);
  });

  it('BADCOOKIE twice: asks over TCP, where no cookie is needed; never relays BADCOOKIE', async () => {
    const up = await cookieUpstream({ badcookieAlways: true });
    const c2 = await c2dnsFor(up);
    const p = await ask(c2, 'tcp.example');
    expect(p.header.rcode).toBe(0);
    expect(p.answers[0]!.address).toBe('192.0.2.7');
    expect(up.received.map((q) => q.transport)).toEqual(['udp', 'udp', 'tcp']);
    expect(c2.server.forward.cookies.stats).toMatchObject({ badcookieRetries: 1, tcpFallbacks: 1 });
  });

  it('an upstream that ignores cookies keeps working: no cookie in its replies is fine', async () => {
    const up = await startUpstream((q) => answer(q));
    open.push(up);
    const c2 = await c2dnsFor(up);
    expect((await ask(c2, 'plain.example')).answers[0]!.address).toBe('192.0.2.7');
    expect((await ask(c2, 'plain2.example')).answers[0]!.address).toBe('192.0.2.7');
    expect(up.received.map((q) => cookieIn(q.raw)?.length)).toEqual([8, 8]);
    expect(c2.server.forward.cookies.stats).toMatchObject({ sent: 2, none: 2, forged: 0 });
  });

  it('the cookie goes with c2dns\' own OPT (a plain client\'s question too), never with the query of the EDNS fallback', async () => {
    const up = await cookieUpstream();
    const c2 = await c2dnsFor(up);
    await ask(c2, 'noedns.example', false);
    // c2dns asks upstream with EDNS of its own even for a plain client: the cookie goes along.
    expect(cookieIn(up.received[0]!.raw)).toHaveLength(8);
    expect(up.received[0]!.packet.additionals.some((r) => r.type === T.OPT)).toBe(true);
    // FORMERR to EDNS (with its cookie, as an upstream that has given one must): the fallback asks without.
    up.setScript((q) => {
      const c = cookieIn(q.raw);
      return c === null ? { rcode: 1 } : { rcode: 1, patch: (r) => withOptions(r, [option(COOKIE, Buffer.concat([c.subarray(0, 8), up.current]))]) };
    });
    await ask(c2, 'formerr.example');
    expect(up.received.slice(1).map((q) => cookieIn(q.raw)?.length ?? null)).toEqual([24, null]);
  });

  it('upstream.cookies: false sends no COOKIE option', async () => {
    const up = await cookieUpstream();
    const c2 = await c2dnsFor(up, { cookies: false });
    expect((await ask(c2, 'off.example')).answers[0]!.address).toBe('192.0.2.7');
    expect(cookieIn(up.received[0]!.raw)).toBeNull();
  });
});

describe('client cookies (upstream/cookies.ts)', () => {
  const a = { host: '127.0.0.1', port: 5301, family: 4 as const };
  const b = { host: '127.0.0.1', port: 5302, family: 4 as const };

  it('one per upstream, stable while the secret lasts', async () => {
    const jar = new UpstreamCookies();
    const ca = (await jar.option(a)).subarray(4);
    expect(ca).toHaveLength(8);
    expect((await jar.option(a)).subarray(4)).toEqual(ca);
    expect((await jar.option(b)).subarray(4).equals(ca)).toBe(false);
  });

  it('an IPv6 upstream, also one written with a zone, gets its cookie (never an error that would fail the question)', async () => {
    const jar = new UpstreamCookies();
    const v6 = (await jar.option({ host: '::1', port: 53, family: 6 })).subarray(4);
    expect(v6).toHaveLength(8);
    expect((await jar.option({ host: 'fe80::1%lo', port: 53, family: 6 })).subarray(4)).toHaveLength(8);
  });

  it('a new secret makes a new client cookie and forgets the server cookie that belonged to the old one', async () => {
    let now = 0;
    const jar = new UpstreamCookies({ rotateMs: 1000, now: () => now });
    const first = await jar.option(a);
    const reply = withOptions(encodeReply({ transport: 'udp', raw: Buffer.alloc(0), packet: decode(buildQuery('x.example', T.A, { edns: {} })), name: 'x.example', type: T.A, from: { address: '', port: 0 } }, {}, null), [
      option(COOKIE, Buffer.concat([first.subarray(4), Buffer.from('0123456789abcdef')])),
    ]);
    expect(jar.check(a, first, reply)).toBe('ok');
    expect((await jar.option(a)).subarray(4)).toHaveLength(24);
    now = 1000;
    const rotated = (await jar.option(a)).subarray(4);
    expect(rotated).toHaveLength(8);
    expect(rotated.equals(first.subarray(4))).toBe(false);
  });
});
