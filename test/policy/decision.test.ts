// A Decision's one text form, as the EDE, the log's `reason` and `c2dns check` show it.
import { describe, expect, it } from 'vitest';
import { makeRule } from '../../src/blocklist/rule.js';
import { edeText, isQnameRuleDecision, reasonText, ruleDecision, type Decision, type Trigger } from '../../src/policy/decision.js';

const rule = (name: string, list = '3cx', kind: 'block' | 'allow' = 'block') =>
  makeRule({ name, match: null, line: 1 }, { list, kind, match: 'subtree', action: null, tags: ['c2'], firstSeen: 0 });

describe('decision text', () => {
  const cases: [string, Decision, string, string][] = [
    ['qname rule', ruleDecision(rule('akamaicontainer.com'), 'qname', ['akamaicontainer.com']), 'list=3cx rule=akamaicontainer.com', 'blocked by c2dns: list=3cx rule=akamaicontainer.com'],
    [
      'through a CNAME',
      ruleDecision(rule('msstorageazure.com'), 'cname', ['innocent.example', 'cdn.msstorageazure.com']),
      'list=3cx rule=msstorageazure.com trigger=cname chain=innocent.example>cdn.msstorageazure.com',
      'blocked by c2dns: list=3cx rule=msstorageazure.com trigger=cname chain=innocent.example>cdn.msstorageazure.com',
    ],
    ['answer IP', ruleDecision(rule('23.254.211.0/24', 'intel'), 'answer-ip', ['u.example', '23.254.211.230']), 'list=intel rule=23.254.211.0/24 trigger=answer-ip chain=u.example>23.254.211.230', 'blocked by c2dns: list=intel rule=23.254.211.0/24 trigger=answer-ip chain=u.example>23.254.211.230'],
    ['client IP', ruleDecision(rule('10.0.0.0/24', 'clients'), 'client-ip', ['10.0.0.5']), 'list=clients rule=10.0.0.0/24 trigger=client-ip client=10.0.0.5', 'blocked by c2dns: list=clients rule=10.0.0.0/24 trigger=client-ip client=10.0.0.5'],
    ['allow', ruleDecision(rule('good.example', 'ok', 'allow'), 'qname', ['good.example']), 'list=ok rule=good.example', 'c2dns: list=ok rule=good.example'],
    [
      'quarantine (no rule)',
      { by: 'quarantine', verdict: 'block', trigger: 'client-ip', rule: null, chain: ['10.0.0.9'], note: 'client quarantined since 2026-12-03T10:00:00.000Z (manual)', tags: ['quarantine'] },
      'client quarantined since 2026-12-03T10:00:00.000Z (manual)',
      'c2dns: client quarantined since 2026-12-03T10:00:00.000Z (manual)',
    ],
  ];
  it.each(cases)('%s', (_what, d, reason, ede) => {
    expect(reasonText(d)).toBe(reason);
    expect(edeText(d)).toBe(ede);
  });

  it('says who decided: an emergency block is not a list like the others, a watch list monitors', () => {
    expect(ruleDecision(rule('x.example', 'emergency'), 'qname', ['x.example']).by).toBe('emergency');
    const w = ruleDecision(rule('update.3cx.example', 'posture'), 'qname', ['update.3cx.example'], true);
    expect([w.by, w.verdict]).toEqual(['watch', 'monitor']);
    const triggers: Trigger[] = ['qname', 'cname', 'dname', 'svcb-target', 'answer-ip', 'client-ip'];
    for (const t of triggers) expect(ruleDecision(rule('a.example'), t, ['a.example']).trigger).toBe(t);
  });
});

describe('a qname rule decision, recognised so a holder can keep only its rule', () => {
  it('is what ruleDecision makes for the question name: block, allow, emergency, watch', () => {
    for (const [r, watch] of [[rule('a.example'), false], [rule('a.example', 'ok', 'allow'), false], [rule('a.example', 'emergency'), false], [rule('a.example', 'posture'), true]] as const) {
      expect(isQnameRuleDecision(ruleDecision(r, 'qname', ['a.example'], watch), 'a.example')).toBe(true);
    }
    // A subdomain of the rule: the chain is the question's name, not the rule's.
    expect(isQnameRuleDecision(ruleDecision(rule('a.example'), 'qname', ['x.a.example']), 'x.a.example')).toBe(true);
  });

  it('is not any decision that ruleDecision(rule, "qname", [qname]) would not make again field for field', () => {
    const r = rule('a.example');
    const d = ruleDecision(r, 'qname', ['a.example']);
    expect(isQnameRuleDecision(d, 'b.example')).toBe(false); // another question
    expect(isQnameRuleDecision(ruleDecision(r, 'cname', ['a.example']), 'a.example')).toBe(false);
    expect(isQnameRuleDecision(ruleDecision(r, 'qname', ['x.example', 'a.example']), 'x.example')).toBe(false);
    expect(isQnameRuleDecision({ ...d, note: 'why' }, 'a.example')).toBe(false);
    expect(isQnameRuleDecision({ ...d, tags: ['c2'] }, 'a.example')).toBe(false); // equal tags, not the rule's array
    expect(isQnameRuleDecision({ ...d, by: 'watch' }, 'a.example')).toBe(false); // a watch decision monitors
    expect(isQnameRuleDecision({ ...d, verdict: 'local-data' }, 'a.example')).toBe(false);
    expect(isQnameRuleDecision({ by: 'quarantine', verdict: 'block', trigger: 'qname', rule: null, chain: ['a.example'], note: null, tags: [] }, 'a.example')).toBe(false);
  });
});
