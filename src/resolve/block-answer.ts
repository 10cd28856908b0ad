// Writes the answer a blocking Decision gives the client's question, whatever triggered it (the
// name, a CNAME target, an answer IP, the client, quarantine): one table of actions, one EDE.
import { CLASS_IN, Ede, EDNS_OPTION_EDE, Rcode, RType } from '../dns/constants.js';
import { addressBytes } from '../dns/address.js';
import { encodeName } from '../dns/names.js';
import { edeOption } from '../dns/opt.js';
import { errorReply, synthesize, truncatedReply, type SynthOptions, type SynthRecord } from '../dns/synth.js';
import type { BlockAction, EntryAction, LocalRecord, RuleMatch } from '../blocklist/rule.js';
import { edeText, type Decision } from '../policy/decision.js';
import type { Answer, Query } from './types.js';

export interface BlockAnswerOptions {
  defaultAction: BlockAction;
  /** Addresses for the `sinkhole` action; null = answer NODATA for that family. */
  sinkholeIpv4: Buffer | null;
  sinkholeIpv6: Buffer | null;
  ttl: number;
  /** Per policy group (config `groups[].action`): its answer where the rule and its list have none. Default: defaultAction. */
  groupActions?: ReadonlyMap<string, BlockAction>;
}

const NONE: readonly SynthRecord[] = [];
/** edeText()'s form for a qname rule, in two pieces around the list's name. */
const QNAME_EDE_PREFIX = 'blocked by c2dns: list=';
const QNAME_EDE_RULE = ' rule=';
/** The EDE being written (option header + at most 200 UTF-16 units as UTF-8); copied into each reply. */
const edeScratch = Buffer.alloc(6 + 3 * 200);
const ZERO_A: readonly SynthRecord[] = [{ type: RType.A, rdata: Buffer.alloc(4) }];
const ZERO_AAAA: readonly SynthRecord[] = [{ type: RType.AAAA, rdata: Buffer.alloc(16) }];

export class BlockAnswers {
  private readonly localByRule = new WeakMap<RuleMatch, SynthRecord[]>();
  private readonly sinkA: readonly SynthRecord[];
  private readonly sinkAAAA: readonly SynthRecord[];
  /** What synthesize() is asked for, filled anew for each reply (it keeps nothing): no object per blocked query. */
  private readonly synth: SynthOptions = { rcode: 0, answers: NONE, soaLabels: -1, ttl: 0, ede: null };

  constructor(private readonly opts: BlockAnswerOptions) {
    this.sinkA = opts.sinkholeIpv4 === null ? NONE : [{ type: RType.A, rdata: opts.sinkholeIpv4 }];
    this.sinkAAAA = opts.sinkholeIpv6 === null ? NONE : [{ type: RType.AAAA, rdata: opts.sinkholeIpv6 }];
  }

  static fromConfig(
    blocking: { action: BlockAction; sinkhole: { ipv4?: string | undefined; ipv6?: string | undefined }; ttl: number },
    groups: readonly { name: string; action?: BlockAction | undefined }[] = [],
  ): BlockAnswers {
    const groupActions = new Map<string, BlockAction>();
    for (const g of groups) if (g.action !== undefined) groupActions.set(g.name, g.action);
    return new BlockAnswers({
      defaultAction: blocking.action,
      groupActions,
      sinkholeIpv4: blocking.sinkhole.ipv4 === undefined ? null : addressBytes(blocking.sinkhole.ipv4),
      sinkholeIpv6: blocking.sinkhole.ipv6 === undefined ? null : addressBytes(blocking.sinkhole.ipv6),
      ttl: blocking.ttl,
    });
  }

  /** The action a decision takes: its rule's own (the entry's, else its list's), else the group's, else the configured default. */
  actionOf(d: Decision, group?: string): EntryAction {
    return d.rule?.action ?? this.defaultFor(group);
  }

  /** The answer a group's blocked queries get when the rule and its list say nothing: groups[].action, else blocking.action. */
  defaultFor(group: string | undefined): BlockAction {
    const g = this.opts.groupActions;
    return (group !== undefined && g !== undefined && g.size > 0 ? g.get(group) : undefined) ?? this.opts.defaultAction;
  }

  /**
   * The answer for a blocking decision. `soaLabels`: how many trailing labels of the question
   * name own the synthetic SOA (the rule's name for a qname rule, else the whole question).
   * Returns null for tcp-only over TCP (or DoT/DoH, streams as well): that action lets the query through.
   */
  answer(q: Query, d: Decision, soaLabels: number, action: EntryAction = this.actionOf(d, q.identity.group)): Answer | null {
    const act = d.verdict === 'local-data' ? 'local-data' : 'blocked';
    if (action === 'drop') return { action: act, reply: null, stored: null, upstream: null };
    if (action === 'tcp-only') return q.transport !== 'udp' ? null : { action: act, reply: truncatedReply(errorReply(q.msg, q.pq, Rcode.NOERROR), q.pq), stored: null, upstream: null };
    return { action: act, reply: this.reply(q, d, action, soaLabels), stored: null, upstream: null };
  }

  private reply(q: Query, d: Decision, action: Exclude<EntryAction, 'drop' | 'tcp-only'>, soaLabels: number): Buffer {
    const pq = q.pq;
    // The EDE travels in the OPT record: a query without EDNS gets none, so none is made.
    const ede = pq.edns ? this.ede(d) : null;
    // Sinkhole addresses and the synthetic SOA are IN-class data: a listed name asked in another
    // class (CH, HS, ANY…) is refused, as Unbound does, never answered with IN records.
    if (action === 'refused' || pq.qclass !== CLASS_IN) return errorReply(q.msg, pq, Rcode.REFUSED, ede);
    let answers = NONE;
    if (typeof action === 'object') answers = this.localAnswers(d.rule!, action.local, pq.qtype);
    else if (action === 'null') answers = pq.qtype === RType.A ? ZERO_A : pq.qtype === RType.AAAA ? ZERO_AAAA : NONE;
    else if (action === 'sinkhole') answers = pq.qtype === RType.A ? this.sinkA : pq.qtype === RType.AAAA ? this.sinkAAAA : NONE;
    const o = this.synth;
    o.rcode = action === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.NOERROR;
    o.answers = answers;
    o.soaLabels = answers.length === 0 ? soaLabels : -1;
    o.ttl = this.opts.ttl;
    o.ede = ede;
    const reply = synthesize(q.msg, pq, o);
    o.ede = null; // the scratch EDE's bytes are the next reply's
    return reply;
  }

  /**
   * The EDE option. A qname rule's text ("blocked by c2dns: list=L rule=R", what edeText says) is
   * written into a scratch buffer that the reply then copies: nothing is made or kept per rule
   * (with a 1M-name list nearly every blocked name is a rule of its own, and a per-rule cache
   * grew a WeakMap that each GC walked).
   */
  private ede(d: Decision): Buffer {
    const r = d.rule;
    if (r === null || d.trigger !== 'qname' || (d.verdict !== 'block' && d.verdict !== 'local-data')) return edeOption(Ede.BLOCKED, edeText(d));
    // edeOption caps the text at 200 UTF-16 units before encoding: longer ones take its path.
    if (QNAME_EDE_PREFIX.length + r.list.length + QNAME_EDE_RULE.length + r.rule.length > 200) return edeOption(Ede.BLOCKED, edeText(d));
    const b = edeScratch;
    let off = 6 + b.write(QNAME_EDE_PREFIX, 6, 'latin1');
    off += b.write(r.list, off, 'utf8');
    off += b.write(QNAME_EDE_RULE, off, 'latin1');
    off += b.write(r.rule, off, 'utf8');
    b.writeUInt16BE(EDNS_OPTION_EDE, 0);
    b.writeUInt16BE(off - 4, 2);
    b.writeUInt16BE(Ede.BLOCKED, 4);
    return b.subarray(0, off);
  }

  /** RPZ local data: a CNAME answers every type; otherwise the records of the asked type. */
  private localAnswers(rule: RuleMatch, records: LocalRecord[], qtype: number): readonly SynthRecord[] {
    let all = this.localByRule.get(rule);
    if (all === undefined) {
      all = records.map(localRecord);
      this.localByRule.set(rule, all);
    }
    const cname = all.find((r) => r.type === RType.CNAME);
    if (cname !== undefined) return [cname];
    return qtype === RType.ANY ? all : all.filter((r) => r.type === qtype);
  }
}

/** Label count of a presentation name ("" = root = 0). */
export function labelCount(name: string): number {
  if (name === '') return 0;
  let n = 1;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 0x2e) n++;
  return n;
}

function localRecord(r: LocalRecord): SynthRecord {
  switch (r.type) {
    case 'A':
      return { type: RType.A, rdata: addressBytes(r.value) };
    case 'AAAA':
      return { type: RType.AAAA, rdata: addressBytes(r.value) };
    case 'CNAME':
      return { type: RType.CNAME, rdata: encodeName(r.value) };
    case 'TXT': {
      const t = Buffer.from(r.value.slice(0, 255), 'utf8').subarray(0, 255);
      return { type: RType.TXT, rdata: Buffer.concat([Buffer.from([t.length]), t]) };
    }
  }
}
