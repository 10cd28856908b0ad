// The clients section: defaults, canonical keys, and errors that name the key and say what was expected.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { clientKey } from '../../src/config/schema.js';

function load(yaml: string): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-cfg-'));
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(file, yaml);
  return loadConfig({ file });
}

function errorOf(yaml: string): string {
  try {
    load(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('clients config', () => {
  it('defaults: nobody trusted, all three options in the order mac, ecs, cpe-id, nothing forwarded, no names', () => {
    expect(loadConfig({}).clients).toEqual({ trustedForwarders: [], identity: ['mac', 'ecs', 'cpe-id'], forwardEcs: false, names: {} });
  });

  it('keeps names under one canonical key: MACs lower case with ":", IPv6 compressed, networks as given', () => {
    const cfg = load(
      [
        'clients:',
        '  trustedForwarders: [192.168.1.1/32, "fd00::1"]',
        '  names:',
        '    "AA-BB-CC-DD-EE-0F": alice-laptop',
        '    "3C:22:FB:41:7A:09": bob-phone',
        '    192.168.1.20: printer',
        '    "2001:DB8:0:0::7": nas',
        '    10.0.0.0/8: lab',
        '',
      ].join('\n'),
    );
    expect(cfg.clients.names).toEqual({ 'aa:bb:cc:dd:ee:0f': 'alice-laptop', '3c:22:fb:41:7a:09': 'bob-phone', '192.168.1.20': 'printer', '2001:db8::7': 'nas', '10.0.0.0/8': 'lab' });
  });

  it('names the key of a bad MAC, address or network', () => {
    expect(errorOf('clients:\n  names:\n    "aa:bb:cc:dd:ee": laptop\n')).toMatch(
      /key "clients\.names\.aa:bb:cc:dd:ee": expected the key "aa:bb:cc:dd:ee" to be an IP address \(192\.168\.1\.20\), a network \(192\.168\.1\.0\/24\) or a MAC address \(aa:bb:cc:dd:ee:ff\)/,
    );
    expect(errorOf('clients:\n  names:\n    "192.168.1.0/33": lan\n')).toMatch(/key "clients\.names\.192\.168\.1\.0\/33": expected the key "192\.168\.1\.0\/33" to be an IP address/);
    expect(errorOf('clients:\n  names:\n    printer.lan: printer\n')).toMatch(/key "clients\.names\.printer\.lan"/);
  });

  it('refuses the same client named twice under two spellings', () => {
    expect(errorOf('clients:\n  names:\n    "aa:bb:cc:dd:ee:0f": a\n    "AA-BB-CC-DD-EE-0F": b\n')).toMatch(/expected each client once; "AA-BB-CC-DD-EE-0F" is aa:bb:cc:dd:ee:0f, named twice/);
  });

  it('refuses a forwarder that is not a network, an unknown identity source and repeats', () => {
    expect(errorOf('clients:\n  trustedForwarders: [router.lan]\n')).toMatch(/key "clients\.trustedForwarders\[0\]": expected an IP network such as 192\.168\.0\.0\/16/);
    expect(errorOf('clients:\n  identity: [mac, ip]\n')).toMatch(/key "clients\.identity\[1\]": expected one of "mac", "ecs", "cpe-id", got "ip"/);
    expect(errorOf('clients:\n  identity: [mac, mac]\n')).toMatch(/key "clients\.identity": expected each of "mac", "ecs", "cpe-id" at most once/);
    expect(errorOf('clients:\n  forwardECS: true\n')).toMatch(/unknown key/);
  });

  it('clientKey: one text form per client, null for anything else', () => {
    expect(clientKey(' AA:bb:CC:dd:EE:0f ')).toBe('aa:bb:cc:dd:ee:0f');
    expect(clientKey('192.168.1.20')).toBe('192.168.1.20');
    expect(clientKey('192.168.1.0/024')).toBe('192.168.1.0/24');
    expect(clientKey('FD00:0::1/64')).toBe('fd00::1/64');
    for (const bad of ['', 'laptop', '192.168.1.256', '10.0.0.0/8/8', '::1/129', 'aa:bb:cc:dd:ee:ff:00']) expect(clientKey(bad), bad).toBeNull();
  });
});
