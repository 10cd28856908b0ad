// `c2dns check`, `lists` and `convert` explain decisions from the lists as loaded.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { check, formatCheck } from '../../src/commands/check.js';
import { convertFile, render } from '../../src/commands/convert.js';
import { formatRows, listRows } from '../../src/commands/lists.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { DEFAULT_PROTECTED, Guard } from '../../src/blocklist/guard.js';
import { FeedManager } from '../../src/feeds/manager.js';

const dir = mkdtempSync(join(tmpdir(), 'c2dns-cmd-'));
let cfg: Config;
let feeds: FeedManager;

beforeAll(async () => {
  writeFileSync(join(dir, 'c2.csv'), 'Indicator,Data,Note\nURL,msstorageazure[.]com,C2\nURL,http[:]//raw.githubusercontent[.]com/IconStorages/images/main/,staging\nURL,github[.]com,bogus\n');
  writeFileSync(join(dir, 'allow.txt'), 'good.msstorageazure.com\n');
  writeFileSync(
    join(dir, 'c2dns.yaml'),
    YAML.stringify({
      state: { dir: join(dir, 'state') },
      lists: [
        { name: 'vendor', path: 'c2.csv', format: 'csv', tags: ['c2', '3cx'] },
        { name: 'local-allow', path: 'allow.txt', kind: 'allow' },
      ],
    }),
  );
  cfg = loadConfig({ file: join(dir, 'c2dns.yaml') });
  feeds = new FeedManager(cfg, pino({ level: 'silent' }));
  await feeds.loadInitial({ network: false });
});

describe('c2dns check', () => {
  it('names the list, rule, line, tags and answer of a block', () => {
    const r = check('CDN.MSStorageAzure.com.', feeds, cfg);
    expect(r).toMatchObject({ name: 'cdn.msstorageazure.com', decision: 'blocked', list: 'vendor', rule: 'msstorageazure.com', line: 2, tags: ['c2', '3cx'], action: 'null' });
    expect(formatCheck(r)).toMatch(/BLOCKED by list "vendor", rule "msstorageazure.com" \(block, subtree, line 2\)/);
  });

  it('names the allowlist entry that lets a name through', () => {
    expect(check('good.msstorageazure.com', feeds, cfg)).toMatchObject({ decision: 'allowed', list: 'local-allow', ruleKind: 'allow' });
  });

  it('says which guard refused a listed name, and that a URL on a shared host is not enforceable by DNS', () => {
    const gh = check('github.com', feeds, cfg);
    expect(gh.decision).toBe('not listed');
    expect(gh.guard).toEqual(expect.arrayContaining([expect.objectContaining({ list: 'vendor', entry: 'github.com', line: 4, reason: expect.stringMatching(/protected shared infrastructure/) as unknown })]));
    const raw = check('raw.githubusercontent.com', feeds, cfg);
    expect(raw.guard[0]).toMatchObject({ list: 'vendor', fromUrl: expect.stringContaining('IconStorages') as unknown, reason: expect.stringMatching(/not enforceable by DNS/) as unknown });
    expect(formatCheck(raw)).toMatch(/guard: list "vendor" entry "raw.githubusercontent.com" \(line 3\) refused: not enforceable by DNS/);
    // The guard's own verdict is not shown as if it came from a list.
    const text = formatCheck(check('github.com', feeds, cfg));
    expect(text).toMatch(/guard: "github.com" is never blocked: .*protected shared infrastructure/);
    expect(text).not.toContain('(guard)');
  });

  it('reports an unlisted and an invalid name', () => {
    expect(check('example.org', feeds, cfg).decision).toBe('not listed');
    expect(check('bad name', feeds, cfg).decision).toBe('invalid');
  });
});

describe('c2dns lists', () => {
  it('shows every source with format, entries, refusals and last success', () => {
    const rows = listRows(feeds);
    expect(rows.map((r) => [r.name, r.format, r.entries])).toEqual([
      ['vendor', 'csv', 1],
      ['local-allow', 'plain', 1],
    ]);
    expect(rows[0]).toMatchObject({ guarded: 1, notEnforceable: [expect.objectContaining({ name: 'raw.githubusercontent.com' })] });
    expect(rows[0]!.lastSuccess).not.toBeNull();
    expect(formatRows(rows)).toMatch(/vendor \(block, csv\)/);
  });
});

describe('c2dns convert', () => {
  it('writes what c2dns understood as domains, hosts and RPZ', () => {
    const c = convertFile(join(dir, 'c2.csv'), 'csv', new Guard(DEFAULT_PROTECTED));
    expect(render(c, 'domains')).toMatch(/\nmsstorageazure\.com\n$/);
    expect(render(c, 'domains')).toMatch(/^# converted by c2dns from a csv source:/);
    writeFileSync(join(dir, 'ads.txt'), '||ads.example^\n');
    expect(render(convertFile(join(dir, 'ads.txt'), 'adblock', new Guard(DEFAULT_PROTECTED)), 'domains')).toMatch(/^# converted by c2dns from an adblock source: 1 block rules/);
    expect(render(c, 'hosts')).toMatch(/\n0\.0\.0\.0 msstorageazure\.com\n$/);
    const rpz = render(c, 'rpz');
    expect(rpz).toMatch(/^msstorageazure\.com CNAME \.$/m);
    expect(rpz).toMatch(/^\*\.msstorageazure\.com CNAME \.$/m);
    expect(rpz).toMatch(/1 guarded, 1 not enforceable by DNS/);
  });
});
