// decodeFeed: bytes that are a list come back as text; bytes that are not (compressed bombs,
// other encodings, binaries, web pages, nothing) are refused with a reason (ADVERSARIAL A1, A2,
// A8–A12). A stray bad line is the parser's business and passes through.
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeFeed, type DecodeOptions } from '../../src/feeds/decode.js';
import { gzipBomb, makeZip, MiB, throwsFeed } from './vectors.js';

const LIST = 'a.example\nb.example\n';
const o = (extra: Partial<DecodeOptions> = {}): DecodeOptions => ({ maxBytes: MiB, ...extra });
const decode = (b: Buffer | string, extra: Partial<DecodeOptions> = {}): string => decodeFeed(Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8'), o(extra));

describe('plain UTF-8', () => {
  it('passes a list through unchanged, CRLF and all', () => {
    expect(decode(LIST)).toBe(LIST);
    expect(decode('a.example\r\nb.example')).toBe('a.example\r\nb.example');
  });

  it('A1: strips a UTF-8 BOM', () => {
    expect(decode(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Indicator,Data,Note\n')]))).toBe('Indicator,Data,Note\n');
  });

  it('refuses invalid UTF-8 (Latin-1) with the byte and line', () => {
    throwsFeed(() => decode(Buffer.from('a.example\nb\xe9.example\n', 'latin1')), 'encoding', /byte 11 \(0xe9, line 2\)/);
  });

  it('refuses a body over the cap', () => {
    throwsFeed(() => decode(LIST, { maxBytes: 5 }), 'too-large');
  });
});

describe('A2: UTF-16 and UTF-32', () => {
  it('transcodes UTF-16LE with a BOM (the ADVERSARIAL vector)', () => {
    expect(decode(Buffer.from([0xff, 0xfe, 0x61, 0x00, 0x2e, 0x00, 0x63, 0x00, 0x6f, 0x00, 0x6d, 0x00]))).toBe('a.com');
    expect(decode(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(LIST, 'utf16le')]))).toBe(LIST);
  });

  it('transcodes UTF-16BE with a BOM', () => {
    const be = Buffer.from(LIST, 'utf16le').swap16();
    expect(decode(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).toBe(LIST);
  });

  it('refuses UTF-16 without a BOM instead of guessing (or reading NULs as Latin-1)', () => {
    throwsFeed(() => decode(Buffer.from(LIST, 'utf16le')), 'encoding', /UTF-16LE without a byte-order mark/);
  });

  it('refuses an odd byte count or an unpaired surrogate', () => {
    throwsFeed(() => decode(Buffer.from([0xff, 0xfe, 0x61, 0x00, 0x62])), 'encoding', /odd number/);
    throwsFeed(() => decode(Buffer.from([0xff, 0xfe, 0x61, 0x00, 0x00, 0xd8, 0x62, 0x00])), 'encoding', /surrogate/);
  });

  it('refuses UTF-32', () => {
    throwsFeed(() => decode(Buffer.from([0xff, 0xfe, 0x00, 0x00, 0x61, 0, 0, 0])), 'encoding', /UTF-32/);
  });
});

describe('A8: binary', () => {
  it('refuses random bytes and NUL-heavy content as binary', () => {
    throwsFeed(() => decode(randomBytes(4096)), 'binary');
    throwsFeed(() => decode(Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(2000), Buffer.from(LIST)])), 'binary', /NUL or other control bytes/);
  });

  it('a stray NUL line in a real list is left to the parser', () => {
    const body = `${'x.example\n'.repeat(100)}a.com\x00\x00\n`;
    expect(decode(body)).toBe(body);
  });

  it('UTF-16 that decodes to control characters is still binary', () => {
    throwsFeed(() => decode(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('\x01\x02\x03'.repeat(50), 'utf16le')])), 'binary');
  });
});

describe('A9: compressed bodies', () => {
  it('gzip is sniffed by its magic and unpacked', () => {
    expect(decode(zlib.gzipSync(LIST))).toBe(LIST);
    expect(decode(zlib.gzipSync(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(LIST)])))).toBe(LIST);
  });

  it('gzip bomb: 100 MiB of zeros against a 10 MiB cap → too-large', () => {
    throwsFeed(() => decode(gzipBomb(), { maxBytes: 10 * MiB }), 'too-large', /inflates past 10485760/);
  });

  it('a truncated gzip stream → truncated; corrupt gzip → decompression', () => {
    const gz = zlib.gzipSync(LIST.repeat(100));
    throwsFeed(() => decode(gz.subarray(0, gz.length - 12)), 'truncated');
    const bad = Buffer.from(gz);
    bad[bad.length - 8] ^= 0xff; // the CRC-32 in the trailer
    throwsFeed(() => decode(bad), 'decompression', /corrupt gzip/);
  });

  it('a zip holding one file is unpacked (ThreatFox full export)', () => {
    expect(decode(makeZip([{ name: 'full.csv', data: Buffer.from(LIST) }]))).toBe(LIST);
    expect(decode(makeZip([{ name: 'full.csv', data: Buffer.from(LIST), stored: true }]))).toBe(LIST);
  });

  it('a zip with several files is refused: which one would be the list?', () => {
    throwsFeed(() => decode(makeZip([{ name: 'a.txt', data: Buffer.from(LIST) }, { name: 'b.txt', data: Buffer.from(LIST) }])), 'decompression', /2 files \(a\.txt, b\.txt\); expected exactly one/);
  });

  it('zip bomb: refused by its declared size, and by the inflate cap when the size lies', () => {
    const zeros = Buffer.alloc(20 * MiB);
    throwsFeed(() => decode(makeZip([{ name: 'z.txt', data: zeros }]), { maxBytes: MiB }), 'too-large', /20971520 bytes once extracted/);
    throwsFeed(() => decode(makeZip([{ name: 'z.txt', data: zeros, declaredSize: 100 }]), { maxBytes: MiB }), 'too-large', /zip bomb/);
  });

  it('a zip cut short → truncated; a CRC mismatch → decompression', () => {
    const zip = makeZip([{ name: 'list.txt', data: Buffer.from(LIST.repeat(50)) }]);
    throwsFeed(() => decode(zip.subarray(0, zip.length - 30)), 'truncated');
    const stored = makeZip([{ name: 'list.txt', data: Buffer.from(LIST), stored: true }]);
    stored[30 + 'list.txt'.length] ^= 0x01; // flip a bit in the stored data
    throwsFeed(() => decode(stored), 'decompression', /CRC-32/);
  });

  it('formats c2dns does not unpack are named', () => {
    throwsFeed(() => decode(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2])), 'decompression', /xz/);
    throwsFeed(() => decode(zlib.gzipSync(zlib.gzipSync(LIST))), 'decompression', /gzip-compressed data inside/);
  });
});

describe('A10: web pages instead of lists', () => {
  const pages: [string, string][] = [
    ['doctype', '<!DOCTYPE html><html><head><title>429 Too Many Requests</title></head></html>'],
    ['html after whitespace', '\n\n   <html lang="en"><body>Login to the hotel Wi-Fi</body></html>'],
    ['head', '<head><meta http-equiv="refresh" content="0;url=/login"></head>'],
    ['xhtml', '<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml">'],
    ['leading < in a line format', '<script>window.location="/challenge"</script>'],
    ['GitHub raw 404', '404: Not Found'],
    ['proxy 429', '429 Too Many Requests\n'],
  ];
  for (const [what, body] of pages) it(`${what} → html`, () => void throwsFeed(() => decode(body), 'html'));

  it('Content-Type text/html is refused whatever the body', () => {
    throwsFeed(() => decode(LIST, { contentType: 'text/html; charset=UTF-8' }), 'html');
    expect(decode(LIST, { contentType: 'text/plain; charset=utf-8' })).toBe(LIST);
  });

  it('a BOM before <html> does not hide it', () => {
    throwsFeed(() => decode(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<html><body>x</body></html>')])), 'html');
  });

  it('XML that is not HTML passes when the format is not line-based', () => {
    const xml = '<?xml version="1.0"?>\n<stix:STIX_Package/>';
    throwsFeed(() => decode(xml), 'html');
    expect(decode(xml, { lineFormat: false })).toBe(xml);
  });
});

describe('A11: empty and header-only', () => {
  const empties: [string, string][] = [
    ['0 bytes', ''],
    ['whitespace', ' \n\t\r\n  \n'],
    ['ThreatFox header only', '################\n# ThreatFox IOCs\n# Number of entries: 0\n################\n'],
    ['AdGuard header only', '[Adblock Plus 2.0]\n! Title: list\n! Expires: 1 day\n'],
    ['zone-file comments only', '; nothing here\n;\n'],
  ];
  for (const [what, body] of empties) it(`${what} → empty`, () => void throwsFeed(() => decode(body), 'empty'));

  it('an empty gzip is empty too', () => {
    throwsFeed(() => decode(zlib.gzipSync('')), 'empty');
  });

  it('allowEmpty accepts a feed that may legitimately list nothing', () => {
    expect(decode('# Number of entries: 0\n', { allowEmpty: true })).toBe('# Number of entries: 0\n');
  });

  it('one entry among comments is enough', () => {
    expect(decode('# header\n! more\n\nonly.example\n')).toBe('# header\n! more\n\nonly.example\n');
  });
});
