// BlockAnswers: the EDE a blocked answer carries says which list and rule blocked it, byte for
// byte what edeText() says, however many rules there are; a query without EDNS gets no OPT.
import { describe, expect, it } from 'vitest';
import { makeRule } from '../../src/blocklist/rule.js';
import { Ede, Rcode } from '../../src/dns/constants.js';
import { edeOption } from '../../src/dns/opt.js';
import { errorReply } from '../../src/dns/synth.js';
import { edeText, ruleDecision } from '../../src/policy/decision.js';
import { BlockAnswers } from '../../src/resolve/block-answer.js';
import { query } from '../helpers/stage.js';
import { decode, edeOf, T } from '../helpers/wire.js';

const answers = (action: 'null' | 'refused') => BlockAnswers.fromConfig({ action, sinkhole: {}, ttl: 60 });
const rule = (name: string, list = 'feed', line = 1) => makeRule({ name, match: 'subtree', line }, { list, kind: 'block', match: 'subtree', action: null, tags: ['c2'], firstSeen: 0 });
const EDNS = { edns: { udpSize: 1232 } };

describe('BlockAnswers EDE', () => {
  const cases: [what: string, list: string, name: string][] = [
    ['a plain rule', 'feed', 'msstorageazure.com'],
    ['a list named beyond ASCII', 'Listé ünïcode ✓', 'evil.example'],
    ['text longer than the 200 characters edeOption keeps', 'feed', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.example`],
  ];
  it.each(cases)('%s: the same bytes as edeOption(edeText(decision))', (_what, list, name) => {
    const q = query(`www.${name}`, T.A, EDNS);
    const d = ruleDecision(rule(name, list), 'qname', [q.pq.name]);
    const reply = answers('refused').answer(q, d, 2)!.reply!;
    expect(reply.equals(errorReply(q.msg, q.pq, Rcode.REFUSED, edeOption(Ede.BLOCKED, edeText(d))))).toBe(true);
  });

  it('each answer keeps its own rule in its EDE when the next answer is written', () => {
    const a = answers('null');
    const q1 = query('x.one.example', T.A, EDNS);
    const q2 = query('two.example', T.A, EDNS);
    const r1 = a.answer(q1, ruleDecision(rule('one.example', 'feed', 7), 'qname', [q1.pq.name]), 2)!.reply!;
    const r2 = a.answer(q2, ruleDecision(rule('two.example', 'other', 9), 'qname', [q2.pq.name]), 2)!.reply!;
    expect(edeOf(decode(r1))).toEqual([{ infoCode: Ede.BLOCKED, text: 'blocked by c2dns: list=feed rule=one.example' }]);
    expect(edeOf(decode(r2))).toEqual([{ infoCode: Ede.BLOCKED, text: 'blocked by c2dns: list=other rule=two.example' }]);
  });

  it('a CNAME-target block names its trigger and chain', () => {
    const q = query('innocent.example', T.A, EDNS);
    const d = ruleDecision(rule('cdn.msstorageazure.com'), 'cname', ['innocent.example', 'cdn.msstorageazure.com']);
    const reply = answers('null').answer(q, d, 2)!.reply!;
    expect(edeOf(decode(reply))).toEqual([{ infoCode: Ede.BLOCKED, text: edeText(d) }]);
    expect(edeText(d)).toContain('trigger=cname chain=innocent.example>cdn.msstorageazure.com');
  });

  it('a query without EDNS gets a blocked answer without OPT', () => {
    const q = query('evil.example', T.A);
    const reply = answers('null').answer(q, ruleDecision(rule('evil.example'), 'qname', ['evil.example']), 2)!.reply!;
    const p = decode(reply);
    expect(p.additionals.filter((r) => r.type === T.OPT)).toEqual([]);
    expect(p.answers.map((r) => r.address)).toEqual(['0.0.0.0']);
  });
});
