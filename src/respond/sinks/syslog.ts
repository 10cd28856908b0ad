// Syslog sink: RFC 5424 messages over UDP (RFC 5426, one message per datagram) or TCP (RFC 6587
// octet counting: "LEN SP MSG", so messages may contain line breaks). Without CEF the event's
// fields go in one structured-data element and MSG is the one-line summary; with CEF, MSG is the
// CEF record (what ArcSight and most SIEM syslog inputs parse) and there is no structured data.
// Delivery is as good as the transport: a UDP send only proves the datagram left; a TCP write
// that completed proves the bytes reached the kernel. Use a webhook for stronger guarantees.
import dgram from 'node:dgram';
import net from 'node:net';
import { hostname as osHostname } from 'node:os';
import { formatCef } from '../cef.js';
import { SYSLOG_SEVERITY, severityOf, summarize } from '../format.js';
import type { SecurityEvent } from '../security-events.js';
import type { AlertSink } from './types.js';

export const FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  audit: 13,
  alert: 14,
  clock: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

export type Facility = keyof typeof FACILITIES;

/**
 * SD-ID of the structured-data element. 32473 is the enterprise number RFC 5612 reserves for
 * examples; c2dns has no registered one, and receivers only need the ID to be stable.
 */
export const SD_ID = 'c2dns@32473';

export interface SyslogOptions {
  name: string;
  host: string;
  port?: number;
  protocol?: 'udp' | 'tcp';
  facility?: Facility;
  appName?: string;
  cef?: boolean;
  /** HOSTNAME field; default this machine's name. */
  hostname?: string;
  /** TCP connect + write deadline. */
  timeoutMs?: number;
  /** UDP datagrams are cut to this (MSG truncated, RFC 5424 §6.1); most receivers take 8 KiB. */
  maxUdpBytes?: number;
}

/** PRINTUSASCII (33–126) only, at most `max` characters; "-" (NILVALUE) when nothing is left. */
function headerField(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** SD-NAME: PRINTUSASCII except '=', ' ', ']' and '"', 1–32 characters. */
function sdName(s: string): string {
  return s.replace(/[^\x21-\x7e]|[=\]"]/g, '_').slice(0, 32);
}

/** PARAM-VALUE escapes '"', '\' and ']' (RFC 5424 §6.3.3). */
export function sdEscape(s: string): string {
  return s.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/**
 * One SD element with every non-null field. `budgetBytes` bounds it (UDP): fields that do not fit
 * are left out, in order, and counted in an `omitted` parameter; id and type come first, so they stay.
 */
export function structuredData(e: SecurityEvent, budgetBytes = Infinity): string {
  let out = `[${SD_ID}`;
  let omitted = 0;
  for (const [k, v] of Object.entries(e)) {
    if (v === null || v === undefined) continue;
    let s: string;
    if (typeof v === 'string') s = v;
    else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) s = v.join(',');
    else s = JSON.stringify(v);
    const param = ` ${sdName(k)}="${sdEscape(s)}"`;
    // 24: room for the omitted parameter and the closing bracket.
    if (Buffer.byteLength(out) + Buffer.byteLength(param) + 24 > budgetBytes) omitted++;
    else out += param;
  }
  return `${out}${omitted > 0 ? ` omitted="${omitted}"` : ''}]`;
}

export interface Rfc5424Options {
  facility: Facility;
  appName: string;
  hostname: string;
  cef: boolean;
  procId?: string;
  /** Bytes the structured data may take (UDP); default unbounded. */
  sdBudgetBytes?: number;
}

/** The message as [prefix through structured data + space, MSG], so a transport can cut MSG only. */
export function formatRfc5424(e: SecurityEvent, o: Rfc5424Options): { head: string; msg: string } {
  const pri = FACILITIES[o.facility] * 8 + SYSLOG_SEVERITY[severityOf(e)];
  const t = Date.parse(e.time);
  const ts = Number.isNaN(t) ? new Date().toISOString() : new Date(t).toISOString();
  const head = `<${pri}>1 ${ts} ${headerField(o.hostname, 255)} ${headerField(o.appName, 48)} ${headerField(o.procId ?? String(process.pid), 128)} ${headerField(e.type, 32)} ${o.cef ? '-' : structuredData(e, o.sdBudgetBytes)} `;
  const msg = o.cef ? formatCef(e, o.hostname) : summarize(e);
  return { head, msg };
}

/** Cuts `buf` to at most `max` bytes without splitting a UTF-8 sequence. */
function utf8Cut(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let end = Math.max(0, max);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}

export class SyslogSink implements AlertSink {
  readonly type = 'syslog';
  readonly name: string;
  private readonly host: string;
  private readonly port: number;
  private readonly protocol: 'udp' | 'tcp';
  private readonly fmt: Rfc5424Options;
  private readonly timeoutMs: number;
  private readonly maxUdpBytes: number;
  private udp: dgram.Socket | null = null;
  private tcp: net.Socket | null = null;

  constructor(o: SyslogOptions) {
    this.name = o.name;
    this.host = o.host;
    this.port = o.port ?? 514;
    this.protocol = o.protocol ?? 'udp';
    this.fmt = { facility: o.facility ?? 'local0', appName: o.appName ?? 'c2dns', hostname: o.hostname ?? osHostname(), cef: o.cef ?? false };
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.maxUdpBytes = o.maxUdpBytes ?? 8192;
  }

  /** The bytes this sink would send for `e` (without TCP framing). */
  render(e: SecurityEvent): Buffer {
    // Over UDP the structured data gets at most half the datagram, so the summary keeps room.
    const { head, msg } = formatRfc5424(e, this.protocol === 'udp' ? { ...this.fmt, sdBudgetBytes: Math.floor(this.maxUdpBytes / 2) } : this.fmt);
    const h = Buffer.from(head);
    const m = Buffer.from(msg);
    if (this.protocol === 'udp') return Buffer.concat([h, utf8Cut(m, this.maxUdpBytes - h.length)]);
    return Buffer.concat([h, m]);
  }

  send(event: SecurityEvent): Promise<void> {
    const msg = this.render(event);
    return this.protocol === 'udp' ? this.sendUdp(msg) : this.sendTcp(Buffer.concat([Buffer.from(`${msg.length} `), msg]));
  }

  private sendUdp(msg: Buffer): Promise<void> {
    if (this.udp === null) {
      const s = dgram.createSocket(net.isIP(this.host) === 6 ? 'udp6' : 'udp4');
      s.on('error', () => {
        // A send error reaches the send callback too; the socket is replaced on the next send.
        if (this.udp === s) this.udp = null;
        try {
          s.close();
        } catch {
          // Already closed.
        }
      });
      s.unref();
      this.udp = s;
    }
    const s = this.udp;
    return new Promise((resolve, reject) => {
      s.send(msg, this.port, this.host, (err) => {
        if (err) reject(new Error(`syslog ${this.name}: udp ${this.host}:${this.port}: ${err.message}`));
        else resolve();
      });
    });
  }

  private connect(): Promise<net.Socket> {
    const cur = this.tcp;
    if (cur !== null && !cur.destroyed && cur.writable) return Promise.resolve(cur);
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: this.host, port: this.port });
      const timer = setTimeout(() => s.destroy(new Error(`no connection within ${this.timeoutMs} ms`)), this.timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.setKeepAlive(true, 30_000);
        s.unref(); // an idle log connection must not keep c2dns alive at shutdown
        this.tcp = s;
        resolve(s);
      });
      s.on('error', (err) => {
        clearTimeout(timer);
        if (this.tcp === s) this.tcp = null;
        reject(err); // no-op once connected
      });
      s.on('close', () => {
        if (this.tcp === s) this.tcp = null;
      });
      s.on('data', () => {}); // syslog receivers do not answer; ignore anything that arrives
    });
  }

  private async sendTcp(frame: Buffer): Promise<void> {
    let s: net.Socket;
    try {
      s = await this.connect();
    } catch (err) {
      throw new Error(`syslog ${this.name}: tcp ${this.host}:${this.port}: ${(err as Error).message}`);
    }
    await new Promise<void>((resolve, reject) => {
      // A stalled receiver (full window) must not hold the spool: give up, drop the connection.
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`syslog ${this.name}: tcp ${this.host}:${this.port}: write not done within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      s.write(frame, (err) => {
        clearTimeout(timer);
        if (err) {
          s.destroy();
          reject(new Error(`syslog ${this.name}: tcp ${this.host}:${this.port}: ${err.message}`));
        } else resolve();
      });
    });
  }

  async close(): Promise<void> {
    const u = this.udp;
    this.udp = null;
    if (u !== null) await new Promise<void>((r) => u.close(() => r()));
    const t = this.tcp;
    this.tcp = null;
    if (t === null) return;
    await new Promise<void>((r) => {
      const timer = setTimeout(() => {
        t.destroy();
        r();
      }, 1000);
      t.end(() => {
        clearTimeout(timer);
        r();
      });
    });
  }
}
