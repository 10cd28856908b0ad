// Syslog sink against local UDP and TCP receivers: RFC 5424 header fields, structured data and
// its escaping, RFC 6587 octet-counting frames, and CEF records with their escaping rules.
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cefHeaderEscape, cefValueEscape, formatCef } from '../../src/respond/cef.js';
import { productVersion } from '../../src/respond/format.js';
import { SecurityEvents, type SecurityEvent } from '../../src/respond/security-events.js';
import { SyslogSink, sdEscape } from '../../src/respond/sinks/syslog.js';
import { Spool } from '../../src/respond/spool.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { query, rule, waitFor } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function udpReceiver(): Promise<{ port: number; got: string[] }> {
  const s = dgram.createSocket('udp4');
  const got: string[] = [];
  s.on('message', (m) => got.push(m.toString('utf8')));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve({ port: s.address().port, got })));
}

/** Parses RFC 6587 octet-counted frames as they arrive, across partial reads. */
function tcpReceiver(): Promise<{ port: number; got: string[]; server: net.Server; connections: number; dropAll(): void }> {
  const got: string[] = [];
  const state = { connections: 0 };
  const server = net.createServer((sock) => {
    state.connections++;
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) return;
        const len = Number(buf.subarray(0, sp).toString('ascii'));
        if (buf.length < sp + 1 + len) return;
        got.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
        buf = buf.subarray(sp + 1 + len);
      }
    });
  });
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  );
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        got,
        server,
        dropAll: () => {
          for (const c of sockets) c.destroy();
        },
        get connections() {
          return state.connections;
        },
      }),
    ),
  );
}

/** RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG] */
function parse5424(line: string) {
  const m = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[(?:[^\]\\]|\\.)*\](?:\[(?:[^\]\\]|\\.)*\])*)(?: (.*))?$/s.exec(line);
  if (m === null) throw new Error(`not RFC 5424: ${line}`);
  const pri = Number(m[1]);
  return { facility: pri >> 3, severity: pri & 7, timestamp: m[2]!, hostname: m[3]!, appName: m[4]!, procId: m[5]!, msgId: m[6]!, sd: m[7]!, msg: m[8] ?? '' };
}

/** SD params of the one element: name → unescaped value. */
function sdParams(sd: string): { id: string; params: Record<string, string> } {
  const id = /^\[(\S+?)[ \]]/.exec(sd)![1]!;
  const params: Record<string, string> = {};
  for (const m of sd.matchAll(/ ([^=\s\]"]+)="((?:[^"\\]|\\.)*)"/g)) params[m[1]!] = m[2]!.replace(/\\(["\\\]])/g, '$1');
  return { id, params };
}

/** CEF: 7 pipe-separated header fields (with \| and \\ escapes), then key=value extensions. */
function parseCef(s: string) {
  const header: string[] = [];
  let i = 0;
  let cur = '';
  while (header.length < 7) {
    const c = s[i++]!;
    if (c === '\\') cur += s[i++]!;
    else if (c === '|') {
      header.push(cur);
      cur = '';
    } else cur += c;
  }
  const ext: Record<string, string> = {};
  const rest = s.slice(i);
  // A key starts after a space and runs to an unescaped '='; its value runs to the next key.
  const keys = [...rest.matchAll(/(?:^| )([A-Za-z0-9_]+)=/g)];
  keys.forEach((k, j) => {
    const start = k.index! + k[0].length;
    const end = j + 1 < keys.length ? keys[j + 1]!.index! : rest.length;
    ext[k[1]!] = rest
      .slice(start, end)
      .replace(/\\n/g, '\n')
      .replace(/\\r/g, '\r')
      .replace(/\\([=\\])/g, '$1');
  });
  return { header, ext };
}

function c2Hit(client = '10.0.0.5', qname = 'cdn.msstorageazure.com'): SecurityEvent {
  const se = new SecurityEvents({ sweepIntervalMs: 0 });
  let e: SecurityEvent | null = null;
  se.subscribe((x) => (e = x));
  se.onQuery({ ...query(client, qname, rule('msstorageazure.com', ['c2', '3cx'], '3cx', { ref: 'indicator--a]b"c\\d' }), 'blocked', 28), clientPort: 53535 });
  return e!;
}

describe('RFC 5424 over UDP', () => {
  it('header fields, PRI from facility and severity, structured data with escaping, summary as MSG', async () => {
    const rx = await udpReceiver();
    const sink = new SyslogSink({ name: 'siem', host: '127.0.0.1', port: rx.port, protocol: 'udp', facility: 'local4', appName: 'c2dns-test', hostname: 'resolver-1' });
    cleanups.push(() => sink.close());
    const e = c2Hit();
    await sink.send(e);
    await waitFor(() => rx.got.length === 1);
    const m = parse5424(rx.got[0]!);
    expect(m).toMatchObject({ facility: 20, severity: 3, timestamp: e.time, hostname: 'resolver-1', appName: 'c2dns-test', procId: String(process.pid), msgId: 'c2-hit' });
    const sd = sdParams(m.sd);
    expect(sd.id).toBe('c2dns@32473');
    expect(sd.params).toMatchObject({ id: e.id, type: 'c2-hit', client: '10.0.0.5', clientPort: '53535', qname: 'cdn.msstorageazure.com', qtype: 'AAAA', list: '3cx', rule: 'msstorageazure.com', tags: 'c2,3cx', ref: 'indicator--a]b"c\\d', count: '1' });
    expect(sd.params.identity).toBeUndefined(); // null fields are left out
    expect(m.msg).toBe('C2 domain blocked: 10.0.0.5 asked cdn.msstorageazure.com AAAA (list 3cx, rule msstorageazure.com, tags c2,3cx)');
  });

  it('severity follows the event: stale-feed is a warning, resolution informational', async () => {
    const rx = await udpReceiver();
    const sink = new SyslogSink({ name: 'siem', host: '127.0.0.1', port: rx.port });
    cleanups.push(() => sink.close());
    const se = new SecurityEvents({ sweepIntervalMs: 0, staleFeedSeconds: 1 });
    const src = [{ config: { name: 'feed' }, lastSuccess: Date.now() - 5000 }];
    const [stale] = se.checkStaleFeeds(src);
    const [resolved] = se.checkStaleFeeds([{ config: { name: 'feed' }, lastSuccess: Date.now() }]);
    await sink.send(stale!);
    await sink.send(resolved!);
    await waitFor(() => rx.got.length === 2);
    const [a, b] = rx.got.map(parse5424);
    expect([a!.facility, a!.severity, a!.msgId]).toEqual([16, 4, 'stale-feed']);
    expect([b!.severity, b!.msgId]).toEqual([6, 'stale-feed-resolved']);
  });

  it('an oversized message is cut in MSG only, keeping the header and structured data intact', async () => {
    const rx = await udpReceiver();
    const sink = new SyslogSink({ name: 'siem', host: '127.0.0.1', port: rx.port, maxUdpBytes: 600 });
    cleanups.push(() => sink.close());
    const e = new SecurityEvents({ sweepIntervalMs: 0 }).emit({ type: 'retro-hunt', message: 'é'.repeat(2000) });
    await sink.send(e);
    await waitFor(() => rx.got.length === 1);
    expect(Buffer.byteLength(rx.got[0]!)).toBeLessThanOrEqual(600);
    expect(rx.got[0]!).not.toContain('\uFFFD'); // not cut inside a UTF-8 sequence
    const m = parse5424(rx.got[0]!);
    expect(m.msgId).toBe('retro-hunt');
    expect(sdParams(m.sd).params).toMatchObject({ id: e.id, type: 'retro-hunt', omitted: '1' }); // the huge field left SD
    expect(m.msg.startsWith('retro-hunt: éé')).toBe(true);
  });

  it('escapes SD values per RFC 5424 §6.3.3', () => {
    expect(sdEscape('a"b\\c]d[e')).toBe('a\\"b\\\\c\\]d[e');
  });
});

describe('RFC 5424 over TCP (octet counting)', () => {
  it('frames several messages on one connection; a message with a line break stays one frame', async () => {
    const rx = await tcpReceiver();
    const sink = new SyslogSink({ name: 'siem', host: '127.0.0.1', port: rx.port, protocol: 'tcp', cef: true });
    cleanups.push(() => sink.close());
    const se = new SecurityEvents({ sweepIntervalMs: 0 });
    await sink.send(c2Hit());
    await sink.send(se.emit({ type: 'quarantine', message: 'line one\nline two', client: '10.0.0.7' }));
    await sink.send(c2Hit('fd00::5'));
    await waitFor(() => rx.got.length === 3);
    expect(rx.connections).toBe(1);
    const msgs = rx.got.map(parse5424);
    expect(msgs.map((m) => m.msgId)).toEqual(['c2-hit', 'quarantine', 'c2-hit']);
    expect(msgs[0]!.sd).toBe('-');
    const cef = parseCef(msgs[0]!.msg);
    expect(cef.header).toEqual(['CEF:0', 'c2dns', 'c2dns', productVersion(), 'c2-hit', 'C2 domain blocked', '8']);
    expect(productVersion()).toMatch(/^\d+\.\d+\.\d+/);
    expect(cef.ext).toMatchObject({ src: '10.0.0.5', spt: '53535', dhost: 'cdn.msstorageazure.com', proto: 'UDP', act: 'blocked', cnt: '1', cs1: '3cx', cs1Label: 'list', cs2: 'msstorageazure.com', cs2Label: 'rule', cs3: 'c2,3cx', cs4: 'indicator--a]b"c\\d', cs5: 'AAAA', cat: 'c2-hit', dvchost: expect.any(String) });
    expect(Number(cef.ext.rt)).toBe(Date.parse(msgs[0]!.timestamp));
    expect(parseCef(msgs[1]!.msg).ext.msg).toBe('quarantine: line one\nline two');
    expect(parseCef(msgs[2]!.msg).ext).toMatchObject({ c6a2: 'fd00::5', c6a2Label: 'Source IPv6 Address' });
    expect(parseCef(msgs[2]!.msg).ext.src).toBeUndefined();
  });

  it('reconnects after the receiver drops the connection; delivered in order through a spool', async () => {
    const rx = await tcpReceiver();
    const sink = new SyslogSink({ name: 'siem', host: '127.0.0.1', port: rx.port, protocol: 'tcp', timeoutMs: 500 });
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-syslog-'));
    const spool = new Spool(sink, { dir: join(dir, 'siem'), retryBaseMs: 5, retryMaxMs: 20 });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(() => spool.close());
    const se = new SecurityEvents({ sweepIntervalMs: 0 });
    se.subscribe((e) => spool.enqueue(e));
    for (let i = 0; i < 5; i++) se.emit({ type: 't', n: i });
    await waitFor(() => rx.got.length === 5);
    // The receiver restarts: existing connections are cut.
    rx.dropAll();
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 5; i < 10; i++) se.emit({ type: 't', n: i });
    await waitFor(() => rx.got.length >= 10, 3000, 'ten messages');
    const ns = rx.got.map((g) => Number(/ n="(\d+)"/.exec(g)![1]));
    expect([...new Set(ns)]).toEqual([...Array(10).keys()]);
    expect(rx.connections).toBeGreaterThanOrEqual(2);
  });

  it('connection refused is a failure (the spool retries)', async () => {
    const rx = await tcpReceiver();
    const port = rx.port;
    await new Promise<void>((r) => rx.server.close(() => r()));
    const sink = new SyslogSink({ name: 'siem', host: '127.0.0.1', port, protocol: 'tcp', timeoutMs: 500 });
    cleanups.push(() => sink.close());
    await expect(sink.send(c2Hit())).rejects.toThrow(/syslog siem: tcp 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });
});

describe('CEF escaping', () => {
  it('header escapes pipe and backslash; extension escapes equals, backslash and line breaks', () => {
    expect(cefHeaderEscape('a|b\\c\nd')).toBe('a\\|b\\\\c d');
    expect(cefValueEscape('k=v|x\\y\r\nz\rw')).toBe('k\\=v|x\\\\y\\nz\\rw');
  });

  it('round-trips hostile values through a CEF parser', () => {
    const e = new SecurityEvents({ sweepIntervalMs: 0 }).emit({ type: 'emergency|block', severity: 'critical', client: '10.0.0.1', qname: 'a=b.example', list: 'x\\y', message: 'x=1 y=2\nz|w' });
    const c = parseCef(formatCef(e));
    expect(c.header[4]).toBe('emergency|block');
    expect(c.header[6]).toBe('10');
    expect(c.ext).toMatchObject({ dhost: 'a=b.example', cs1: 'x\\y', msg: 'emergency|block: x=1 y=2\nz|w' });
  });
});
