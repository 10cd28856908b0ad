// Hand-built replies and QueryEvents for the history tests.
import type { QueryEvent } from '../../src/observe/query-event.js';
import type { Action } from '../../src/resolve/types.js';
import { encodeName } from '../helpers/wire.js';

export interface FakeRr {
  type: number;
  /** Address text for A/AAAA, a name for CNAME. */
  data: string;
}

function rdata(rr: FakeRr): Buffer {
  if (rr.type === 1) return Buffer.from(rr.data.split('.').map(Number));
  if (rr.type === 28) {
    const [head, tail] = rr.data.split('::') as [string, string | undefined];
    const h = head === '' ? [] : head.split(':');
    const t = tail === undefined || tail === '' ? [] : tail.split(':');
    const words = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const b = Buffer.alloc(16);
    words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2));
    return b;
  }
  return encodeName(rr.data);
}

/** A reply to (name, qtype) with the given rcode and answer records (owner: a pointer to the question). */
export function reply(name: string, qtype: number, rcode: number, answers: FakeRr[] = []): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x1234, 0);
  h.writeUInt16BE(0x8180 | rcode, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers.length, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(qtype, 0);
  q.writeUInt16BE(1, 2);
  const parts: Buffer[] = [h, encodeName(name), q];
  for (const rr of answers) {
    const d = rdata(rr);
    const f = Buffer.alloc(12);
    f.writeUInt16BE(0xc00c, 0);
    f.writeUInt16BE(rr.type, 2);
    f.writeUInt16BE(1, 4);
    f.writeUInt32BE(300, 6);
    f.writeUInt16BE(d.length, 10);
    parts.push(f, d);
  }
  return Buffer.concat(parts);
}

export function event(o: { time: number; client: string; qname: string; qtype?: number; action?: Action; rcode?: number; reply?: Buffer | null }): QueryEvent {
  const qtype = o.qtype ?? 1;
  const rcode = o.rcode ?? 0;
  return {
    time: o.time,
    client: o.client,
    clientPort: 40000,
    via: null,
    mac: null,
    clientName: null,
    transport: 'udp',
    qname: o.qname,
    qtype,
    action: o.action ?? 'allowed',
    decision: null,
    rcode,
    latencyMs: 1,
    upstream: null,
    truncated: false,
    reply: o.reply === undefined ? (rcode < 0 ? null : reply(o.qname, qtype, rcode)) : o.reply,
  };
}
