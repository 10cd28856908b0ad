// Configuration: defaults without a file, flags over the file, and errors that say where,
// which key, what value and what was expected.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { bundledPath } from '../../src/config/paths.js';

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-cfg-'));
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(file, text);
  return file;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config defaults', () => {
  it('needs no file: loopback port 5353, the bundled 3CX list, blocking with 0.0.0.0/::', () => {
    const cfg = loadConfig({});
    expect(cfg.listen).toEqual(['127.0.0.1:5353', '[::1]:5353']);
    expect(cfg.lists).toHaveLength(1);
    expect(cfg.lists[0]).toMatchObject({ name: '3cx', path: bundledPath('blocklists', '3cx.txt'), format: 'plain', kind: 'block', match: 'subtree', tags: ['c2', '3cx'] });
    expect(cfg.state.dir).toMatch(/c2dns$/);
    expect(cfg.blocking.action).toBe('null');
    expect(cfg.log.queries).toBe('all');
    expect(cfg.access.allow).toContain('192.168.0.0/16');
  });

  it('lets flags replace the file', () => {
    const file = configFile('listen: ["127.0.0.1:1053"]\nupstreams: ["192.0.2.1"]\n');
    const cfg = loadConfig({ file, listen: ['127.0.0.1:2053'], upstreams: ['[2001:db8::1]:5353'] });
    expect(cfg.listen).toEqual(['127.0.0.1:2053']);
    expect(cfg.upstreams).toEqual(['[2001:db8::1]:5353']);
  });

  it('resolves list paths relative to the config file', () => {
    const file = configFile('lists:\n  - name: mine\n    path: lists/c2.txt\n');
    expect(loadConfig({ file }).lists[0]!.path).toBe(join(file, '..', 'lists', 'c2.txt'));
  });

  it('accepts networks written with their network address, and single addresses', () => {
    const allow = ['10.0.0.0/8', '192.168.1.1/32', '192.168.1.1', '0.0.0.0/0', 'fd00::/8', '::1/128', '::/0', '::ffff:10.0.0.0/104', '2001:db8:0:0:8000::/65'];
    expect(loadConfig({ file: configFile(`access:\n  allow: ${JSON.stringify(allow)}\n`) }).access.allow).toEqual(allow);
  });

  it('accepts the documented example file as it is', () => {
    const cfg = loadConfig({ file: bundledPath('config', 'c2dns.example.yaml') });
    expect(cfg.lists.length).toBeGreaterThan(0);
  });
});

describe('config errors name the file, the key, the value and what was expected', () => {
  const cases: { name: string; yaml: string; expect: RegExp[] }[] = [
    { name: 'wrong type', yaml: 'cache:\n  maxTtl: "a day"\n', expect: [/key "cache\.maxTtl"/, /expected number/, /got "a day"/] },
    { name: 'out of range', yaml: 'cache:\n  maxTtl: 99999999\n', expect: [/key "cache\.maxTtl"/, /expected a number <= 604800/, /got 99999999/] },
    { name: 'not a whole number', yaml: 'blocking:\n  ttl: 1.5\n', expect: [/key "blocking\.ttl"/, /whole number/, /got 1\.5/] },
    { name: 'empty list', yaml: 'upstreams: []\n', expect: [/key "upstreams"/, /at least 1 item/, /got \[\]/] },
    { name: 'unknown key', yaml: 'cache:\n  maxEntires: 10\n', expect: [/key "cache\.maxEntires"/, /unknown key/] },
    { name: 'bad enum', yaml: 'blocking:\n  action: drop\n', expect: [/key "blocking\.action"/, /"null", "nxdomain", "nodata", "refused", "sinkhole"/, /got "drop"/] },
    { name: 'bad listen address', yaml: 'listen: ["localhost:53"]\n', expect: [/key "listen\[0\]"/, /ADDR\[:PORT\]/, /got "localhost:53"/] },
    { name: 'upstream port 0', yaml: 'upstreams: ["127.0.0.1:0"]\n', expect: [/key "upstreams\[0\]"/, /port must be 1-65535/] },
    { name: 'bad network', yaml: 'access:\n  allow: ["10.0.0.0/33"]\n', expect: [/key "access\.allow\[0\]"/, /IP network/, /got "10\.0\.0\.0\/33"/] },
    { name: 'network with host bits (IPv4)', yaml: 'access:\n  allow: ["192.168.1.77/24"]\n', expect: [/key "access\.allow\[0\]"/, /host bits set \(the network is 192\.168\.1\.0\/24; one address is 192\.168\.1\.77\/32\)/] },
    { name: 'network with host bits (IPv6)', yaml: 'rateLimit:\n  exempt: ["fd00::1/64"]\n', expect: [/key "rateLimit\.exempt\[0\]"/, /the network is fd00::\/64; one address is fd00::1\/128/] },
    { name: 'network with host bits at a /0', yaml: 'clients:\n  trustedForwarders: ["10.1.2.3/0"]\n', expect: [/the network is 0\.0\.0\.0\/0/] },
    { name: 'wildcard in guard.protect', yaml: 'guard:\n  protect: ["*.example.com"]\n', expect: [/key "guard\.protect\[0\]"/, /expected a domain name/, /got "\*\.example\.com"/] },
    { name: 'words in quarantine.allow', yaml: 'quarantine:\n  allow: ["windows update"]\n', expect: [/key "quarantine\.allow\[0\]"/, /expected a domain name/, /got "windows update"/] },
    { name: 'duplicate list names', yaml: 'lists:\n  - {name: a, path: x}\n  - {name: a, path: y}\n', expect: [/key "lists\[1\]\.name"/, /unique list name/] },
    { name: 'sinkhole without addresses', yaml: 'blocking:\n  action: sinkhole\n', expect: [/key "blocking\.sinkhole"/, /ipv4 and\/or ipv6/] },
    { name: 'YAML syntax', yaml: 'listen: [\n', expect: [/YAML/] },
    { name: 'not a mapping', yaml: '- a\n- b\n', expect: [/expected a mapping/] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const file = configFile(c.yaml);
      const msg = errorOf(() => loadConfig({ file }));
      expect(msg).toContain(file);
      for (const re of c.expect) expect(msg).toMatch(re);
    });
  }

  it('names the flag when the bad value came from the command line', () => {
    const msg = errorOf(() => loadConfig({ upstreams: ['not-an-ip'] }));
    expect(msg).toMatch(/command-line flag --upstream: key "upstreams\[0\]"/);
    expect(msg).toMatch(/got "not-an-ip"/);
  });

  it('says when the file cannot be read', () => {
    expect(errorOf(() => loadConfig({ file: '/nonexistent/c2dns.yaml' }))).toMatch(/cannot read \/nonexistent\/c2dns\.yaml/);
  });
});
