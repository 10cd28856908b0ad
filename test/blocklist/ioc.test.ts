// Refanging and token classification shared by the threat-intel parsers (ADVERSARIAL E1–E5, B14, C14–C16).
import { describe, expect, it } from 'vitest';
import { classifyToken, refang, toCidr, type TokenClass } from '../../src/blocklist/ioc.js';

describe('refang', () => {
  const cases: [string, string, string][] = [
    ['E1 [.] in a name', 'msstorageazure[.]com', 'msstorageazure.com'],
    ['E1 [.] in an address', '23.254.211[.]230', '23.254.211.230'],
    ['E1 (.)', 'evil(.)com', 'evil.com'],
    ['E1 {.}', 'evil{.}com', 'evil.com'],
    ['E1 [dot]', 'evil[dot]com', 'evil.com'],
    ['E1 (dot), spaced and upper case', 'evil (DOT) com', 'evil.com'],
    ['E1 [ . ] with spaces inside', 'evil[ . ]com', 'evil.com'],
    ['E1 Markdown-escaped dot', 'evil\\.com', 'evil.com'],
    ['E2 hxxp', 'hxxp://evil[.]com/a', 'http://evil.com/a'],
    ['E2 hxxps, upper case', 'HXXPS://evil[.]com', 'https://evil.com'],
    ['E2 h**p', 'h**p://evil.com', 'http://evil.com'],
    ['E2 h**ps', 'h**ps://evil.com', 'https://evil.com'],
    ['E2 hxxp[s]', 'hxxp[s]://evil.com', 'https://evil.com'],
    ['E2 [:]// (Sophos)', 'http[:]//raw.githubusercontent[.]com/IconStorages/images/main/icon13.ico', 'http://raw.githubusercontent.com/IconStorages/images/main/icon13.ico'],
    ['E2 [://]', 'https[://]evil.com', 'https://evil.com'],
    ['E2 hxxp[://]', 'hxxp[://]evil.com', 'http://evil.com'],
    ['E2 fxp', 'fxp://files.evil.com', 'ftp://files.evil.com'],
    ['E3 backticks', '`azuredeploystore[.]com`', 'azuredeploystore.com'],
    ['E3 bold', '**evil[.]com**', 'evil.com'],
    ['E3 AsciiDoc passthrough', '`+https://nrfm[.]lk/x+`', 'https://nrfm.lk/x'],
    ['E5 defanged e-mail', 'philip.je[@]proton[.]me', 'philip.je@proton.me'],
    ['E5 [at]', 'philip.je[at]proton.me', 'philip.je@proton.me'],
    ['E4 not defanged stays as is', 'azureonlinestorage.com', 'azureonlinestorage.com'],
    ['hxxp inside a name is not a scheme', 'hxxpfoo.com', 'hxxpfoo.com'],
    ['a + inside a URL query survives', 'http://a.com/?q=a+b', 'http://a.com/?q=a+b'],
  ];
  for (const [row, input, want] of cases) {
    it(`${row}: ${input}`, () => expect(refang(input)).toBe(want));
  }

  it('is idempotent', () => {
    for (const [, input] of cases) expect(refang(refang(input))).toBe(refang(input));
  });
});

describe('classifyToken', () => {
  const cases: [string, string, TokenClass][] = [
    ['hostname', 'evil.com', { kind: 'hostname', host: 'evil.com' }],
    ['hostname with trailing dot (C2)', 'Evil.COM.', { kind: 'hostname', host: 'Evil.COM.' }],
    ['hostname:port → port stripped', 'evil.com:443', { kind: 'hostname', host: 'evil.com' }],
    ['IDN (C9)', 'bücher.example', { kind: 'hostname', host: 'bücher.example' }],
    ['Unicode dot (C11) is left for normalisation', 'evil。com', { kind: 'hostname', host: 'evil。com' }],
    ['zero-width inside (C12) reaches validation', 'ev\u200Bil.com', { kind: 'hostname', host: 'ev\u200Bil.com' }],
    ['LRM at the edge (A7) is dropped', '\u200Eevil.com\u200E', { kind: 'hostname', host: 'evil.com' }],
    ['IPv4 (C15)', '23.254.211.230', { kind: 'ip', ip: '23.254.211.230' }],
    ['IPv6', '2001:db8::1', { kind: 'ip', ip: '2001:db8::1' }],
    ['bracketed IPv6', '[2001:db8::1]', { kind: 'ip', ip: '2001:db8::1' }],
    ['IP:port (maltrail, C15)', '23.254.211.230:443', { kind: 'ip-port', ip: '23.254.211.230', port: 443 }],
    ['[IPv6]:port (C15)', '[2001:db8::1]:443', { kind: 'ip-port', ip: '2001:db8::1', port: 443 }],
    ['CIDR (C16)', '223.166.0.0/15', { kind: 'cidr', cidr: '223.166.0.0/15' }],
    ['IPv6 CIDR', '2001:DB8::/32', { kind: 'cidr', cidr: '2001:db8::/32' }],
    ['URL', 'https://msedgeupdate.net/Windows', { kind: 'url', host: 'msedgeupdate.net', ip: null, url: 'https://msedgeupdate.net/Windows' }],
    ['URL with userinfo and port', 'http://u:p@Evil.com:8080/x', { kind: 'url', host: 'evil.com', ip: null, url: 'http://u:p@Evil.com:8080/x' }],
    ['URL with an IP host (ESET tcp://)', 'tcp://23.254.211.230', { kind: 'url', host: '23.254.211.230', ip: '23.254.211.230', url: 'tcp://23.254.211.230' }],
    ['URL with bracketed IPv6 and port', 'https://[2001:db8::1]:8443/p', { kind: 'url', host: '2001:db8::1', ip: '2001:db8::1', url: 'https://[2001:db8::1]:8443/p' }],
    ['URL with inet_aton host (C14) → an address', 'http://0x7f.1/', { kind: 'url', host: '127.0.0.1', ip: '127.0.0.1', url: 'http://0x7f.1/' }],
    ['URL hiding U+200B in the host keeps it for rejection', 'http://ev\u200Bil.com/', { kind: 'url', host: 'ev\u200Bil.com', ip: null, url: 'http://ev\u200Bil.com/' }],
    [
      'host/path (Sophos staging URL, E8)',
      'raw.githubusercontent.com/IconStorages/images/main/',
      { kind: 'host-path', host: 'raw.githubusercontent.com', ip: null, url: 'raw.githubusercontent.com/IconStorages/images/main/' },
    ],
    ['IP/path', '198.51.100.7/gate.php', { kind: 'host-path', host: '198.51.100.7', ip: '198.51.100.7', url: '198.51.100.7/gate.php' }],
    ['path only (D9)', '/tbl_add.php', { kind: 'other' }],
    ['e-mail is never split (E5, C20)', 'philip.je@proton.me', { kind: 'email' }],
    ['mailto:', 'mailto:a@b.example', { kind: 'email' }],
    ['md5', 'd41d8cd98f00b204e9800998ecf8427e', { kind: 'hash', algorithm: 'md5' }],
    ['sha1', 'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709', { kind: 'hash', algorithm: 'sha1' }],
    ['sha256 (B14)', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', { kind: 'hash', algorithm: 'sha256' }],
    ['version number', '18.12.407', { kind: 'other' }],
    ['inet_aton shorthand (C14)', '1.2.3', { kind: 'other' }],
    ['hex address form (C14)', '0x7f.1', { kind: 'other' }],
    ['integer address (C14)', '2130706433', { kind: 'other' }],
    ['wildcard', '*.evil.com', { kind: 'other' }],
    ['single label', 'localhost', { kind: 'other' }],
    ['percent-encoding inside a URL host is decoded as a browser would (C13)', 'http://evil%2Ecom/', { kind: 'url', host: 'evil.com', ip: null, url: 'http://evil%2Ecom/' }],
    ['percent-encoded dot outside a URL (C13)', 'evil%2Ecom', { kind: 'other' }],
    ['port out of range', 'evil.com:99999', { kind: 'other' }],
    ['empty URL', 'http://', { kind: 'other' }],
    ['empty', '   ', { kind: 'other' }],
  ];
  for (const [row, input, want] of cases) {
    it(`${row}: ${JSON.stringify(input)}`, () => expect(classifyToken(input)).toEqual(want));
  }
});

describe('toCidr', () => {
  const cases: [string, string | null][] = [
    ['192.0.2.1', '192.0.2.1/32'],
    ['192.0.2.0/24', '192.0.2.0/24'],
    ['2001:DB8:0:0::1', '2001:db8::1/128'],
    ['[2001:db8::1]', '2001:db8::1/128'],
    ['fe80::1%eth0', 'fe80::1/128'],
    ['192.0.2.0/33', null],
    ['192.0.2.0/x', null],
    ['evil.com', null],
  ];
  for (const [input, want] of cases) it(`${input} → ${want}`, () => expect(toCidr(input)).toBe(want));
});
