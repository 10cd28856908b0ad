// The response stage on its own: an upstream answer (from a stub next) against policy tables, as
// table cases. What the client gets is decoded with dns2; the decision is read off the query.
import { describe, expect, it } from 'vitest';
import { PolicyHolder } from '../../src/policy/snapshot.js';
import { BlockAnswers } from '../../src/resolve/block-answer.js';
import { ResponseStage } from '../../src/resolve/response.js';
import type { Answer } from '../../src/resolve/types.js';
import { query, stored, StubNext, tables, upstreamAnswer, type RuleSpec } from '../helpers/stage.js';
import { decode, T, type Rr } from '../helpers/wire.js';

const answers = new BlockAnswers({ defaultAction: 'null', sinkholeIpv4: Buffer.from([192, 0, 2, 99]), sinkholeIpv6: null, ttl: 60 });

function stage(spec: RuleSpec): { holder: PolicyHolder; run: (name: string, type: number, ans: Rr[], add?: Rr[]) => { a: Answer; q: ReturnType<typeof query> } } {
  const holder = new PolicyHolder();
  holder.publish(tables(spec));
  return {
    holder,
    run(name, type, ans, add = []) {
      const q = query(name, type);
      const s = stored(q, ans, add);
      const st = new ResponseStage(holder, answers, new StubNext(upstreamAnswer(s)));
      return { a: st.resolve(q) as Answer, q };
    },
  };
}

const cname = (name: string, target: string): Rr => ({ name, type: T.CNAME, domain: target });
const a = (name: string, address: string): Rr => ({ name, type: T.A, address });

describe('response stage', () => {
  const cases: {
    what: string;
    spec: RuleSpec;
    name: string;
    type: number;
    answer: Rr[];
    additional?: Rr[];
    want: { action: string; answers: string[]; additional?: string[]; trigger?: string | null; chain?: string[]; rule?: string };
  }[] = [
    {
      what: 'a CNAME into a listed name answers the question with the null address',
      spec: { block: ['msstorageazure.com'] },
      name: 'innocent.example',
      type: T.A,
      answer: [cname('innocent.example', 'cdn.msstorageazure.com'), a('cdn.msstorageazure.com', '203.0.113.66')],
      want: { action: 'blocked', answers: ['innocent.example A 0.0.0.0'], trigger: 'cname', chain: ['innocent.example', 'cdn.msstorageazure.com'], rule: 'msstorageazure.com' },
    },
    {
      what: 'a two-hop chain names every hop',
      spec: { block: ['akamaicontainer.com'] },
      name: 'a.example',
      type: T.A,
      answer: [cname('a.example', 'b.example'), cname('b.example', 'x.akamaicontainer.com'), a('x.akamaicontainer.com', '203.0.113.7')],
      want: { action: 'blocked', answers: ['a.example A 0.0.0.0'], trigger: 'cname', chain: ['a.example', 'b.example', 'x.akamaicontainer.com'] },
    },
    {
      what: 'a more specific allow on the target lets the chain through',
      spec: { block: ['example.net'], allow: ['cdn.example.net'] },
      name: 'www.example',
      type: T.A,
      answer: [cname('www.example', 'cdn.example.net'), a('cdn.example.net', '198.51.100.1')],
      want: { action: 'allowed', answers: ['www.example CNAME cdn.example.net', 'cdn.example.net A 198.51.100.1'], trigger: null },
    },
    {
      what: 'an answer address inside a listed prefix is blocked with the IP rule',
      spec: { responseIps: { '23.254.211.0/24': null } },
      name: 'update.example',
      type: T.A,
      answer: [a('update.example', '23.254.211.230')],
      want: { action: 'blocked', answers: ['update.example A 0.0.0.0'], trigger: 'answer-ip', chain: ['update.example', '23.254.211.230'], rule: '23.254.211.0/24' },
    },
    {
      what: 'an IP allow /32 inside a blocked prefix lets that address through',
      spec: { responseIps: { '23.254.211.0/24': null }, allowIps: ['23.254.211.5/32'] },
      name: 'ok.example',
      type: T.A,
      answer: [a('ok.example', '23.254.211.5')],
      want: { action: 'allowed', answers: ['ok.example A 23.254.211.5'], trigger: null },
    },
    {
      what: 'an IP rule with its own action (sinkhole) answers with it',
      spec: { responseIps: { '203.0.113.66/32': 'sinkhole' } },
      name: 'x.example',
      type: T.A,
      answer: [a('x.example', '203.0.113.66')],
      want: { action: 'blocked', answers: ['x.example A 192.0.2.99'], trigger: 'answer-ip' },
    },
    {
      what: 'a blocked name in the additional section is removed, the rest delivered',
      spec: { block: ['sbmsa.wiki'] },
      name: 'example.org',
      type: T.MX,
      answer: [{ name: 'example.org', type: T.MX, exchange: 'mx.sbmsa.wiki', priority: 10 }, { name: 'example.org', type: T.MX, exchange: 'mx.example.org', priority: 20 }],
      additional: [a('mx.sbmsa.wiki', '203.0.113.9'), a('mx.example.org', '198.51.100.25')],
      want: { action: 'allowed', answers: ['example.org MX mx.sbmsa.wiki', 'example.org MX mx.example.org'], additional: ['mx.example.org A 198.51.100.25'], trigger: null },
    },
    {
      what: 'an answer with nothing listed passes unchanged',
      spec: { block: ['msstorageazure.com'], responseIps: { '23.254.211.0/24': null } },
      name: 'example.org',
      type: T.A,
      answer: [a('example.org', '192.0.2.10')],
      want: { action: 'allowed', answers: ['example.org A 192.0.2.10'], trigger: null },
    },
  ];

  for (const c of cases) {
    it(c.what, () => {
      const { a: ans, q } = stage(c.spec).run(c.name, c.type, c.answer, c.additional);
      expect(ans.action).toBe(c.want.action);
      const p = decode(ans.reply!);
      expect(p.answers.map(show)).toEqual(c.want.answers);
      if (c.want.additional) expect(p.additionals.filter((r) => r.type !== T.OPT).map(show)).toEqual(c.want.additional);
      expect(q.decision?.trigger ?? null).toBe(c.want.trigger ?? null);
      if (c.want.chain) expect(q.decision!.chain).toEqual(c.want.chain);
      if (c.want.rule) expect(q.decision!.rule!.rule).toBe(c.want.rule);
    });
  }

  it('an explicit allow on the question vouches for its whole answer', () => {
    const { holder } = stage({ block: ['msstorageazure.com'], allow: ['innocent.example'] });
    const q = query('innocent.example', T.A);
    q.decision = { by: 'list', verdict: 'allow', trigger: 'qname', rule: null, chain: ['innocent.example'], note: null, tags: [] };
    const s = stored(q, [cname('innocent.example', 'cdn.msstorageazure.com'), a('cdn.msstorageazure.com', '203.0.113.66')]);
    const out = new ResponseStage(holder, answers, new StubNext(upstreamAnswer(s))).resolve(q) as Answer;
    expect(out.action).toBe('allowed');
  });

  it('re-checks a cached answer when the policy changes, and memoises within one policy', () => {
    const holder = new PolicyHolder();
    holder.publish(tables({ block: [] }));
    const first = query('innocent.example', T.A);
    const s = stored(first, [cname('innocent.example', 'cdn.msstorageazure.com'), a('cdn.msstorageazure.com', '203.0.113.66')]);
    const st = new ResponseStage(holder, answers, new StubNext(upstreamAnswer(s, 'cached')));
    expect((st.resolve(first) as Answer).action).toBe('cached');
    holder.publish(tables({ block: ['msstorageazure.com'] })); // a list update
    const again = query('innocent.example', T.A);
    const out = st.resolve(again) as Answer;
    expect(out.action).toBe('blocked');
    expect(again.decision?.trigger).toBe('cname');
    holder.publish(tables({ block: [] })); // and removed again
    expect((st.resolve(query('innocent.example', T.A)) as Answer).action).toBe('cached');
  });

  it('keeps no object on a cached answer that passed (a number names the tables), and the verdict object of one that did not', () => {
    const holder = new PolicyHolder();
    holder.publish(tables({ block: ['sbmsa.wiki'] }));
    const check = (name: string, ans: Rr[], add: Rr[] = []): unknown => {
      const q = query(name, T.A);
      const s = stored(q, ans, add);
      new ResponseStage(holder, answers, new StubNext(upstreamAnswer(s, 'cached'))).resolve(q);
      return s.verdict;
    };
    expect(typeof check('innocent.example', [cname('innocent.example', 'cdn.example.net'), a('cdn.example.net', '203.0.113.66')])).toBe('number');
    expect(typeof check('plain.example', [a('plain.example', '203.0.113.67')])).toBe('number');
    expect(check('bad.example', [cname('bad.example', 'x.sbmsa.wiki'), a('x.sbmsa.wiki', '203.0.113.68')])).toMatchObject({ hit: { trigger: 'cname' } });
    expect(check('mail.example', [a('mail.example', '203.0.113.69')], [a('mx.sbmsa.wiki', '203.0.113.9')])).toMatchObject({ hit: null, stripped: { answerCount: 1 } });
  });

  it('keeps each group\'s verdict for one cached answer apart, and re-checks both after a publish', () => {
    const holder = new PolicyHolder();
    const publishGroups = (kidsBlock: string[]): void => {
      const everyone = tables({ block: [] });
      const kids = tables({ block: kidsBlock });
      holder.publish({ tables: everyone, groups: new Map([['default', everyone], ['kids', kids]]) });
    };
    publishGroups(['msstorageazure.com']);
    const chain = [cname('innocent.example', 'cdn.msstorageazure.com'), a('cdn.msstorageazure.com', '203.0.113.66')];
    const ask = (group: string): ReturnType<typeof query> => {
      const q = query('innocent.example', T.A);
      q.identity = { ...q.identity, group };
      return q;
    };
    const s = stored(ask('default'), chain);
    const st = new ResponseStage(holder, answers, new StubNext(upstreamAnswer(s, 'cached')));
    const actions = (): string[] => ['default', 'kids', 'default', 'kids'].map((g) => (st.resolve(ask(g)) as Answer).action);
    expect(actions()).toEqual(['cached', 'blocked', 'cached', 'blocked']); // either group first: same verdicts
    publishGroups([]); // the kids' list no longer has it
    expect(actions()).toEqual(['cached', 'cached', 'cached', 'cached']);
    publishGroups(['cdn.msstorageazure.com']);
    const kidsFirst = ['kids', 'default', 'kids'].map((g) => (st.resolve(ask(g)) as Answer).action);
    expect(kidsFirst).toEqual(['blocked', 'cached', 'blocked']);
  });
});

function show(r: ReturnType<typeof decode>['answers'][number]): string {
  const type = Object.entries(T).find(([, v]) => v === r.type)?.[0] ?? String(r.type);
  const data = r.type === T.A ? r.address : r.type === T.CNAME ? r.domain : r.type === T.MX ? r.exchange : '';
  return `${r.name} ${type} ${data}`;
}
