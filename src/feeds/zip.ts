// The one zip shape feeds actually use: an archive holding a single file (ThreatFox's full export
// is one CSV in a zip). Anything else — several files, encryption, ZIP64, methods other than
// stored/deflate — is refused rather than guessed at: which member would be "the list"?
// Sizes are read from the central directory (the local header may defer them to a trailer).
import zlib from 'node:zlib';
import { FeedError } from './errors.js';

const EOCD_SIG = 0x06054b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_MIN = 22;

/** The single file inside a zip archive, inflated with its size capped at maxBytes. */
export function unzipSingle(zip: Buffer, maxBytes: number): Buffer {
  const eocd = findEocd(zip);
  if (eocd < 0) throw new FeedError('truncated', 'zip archive without its end-of-central-directory record (cut short?); expected a complete archive');
  const total = zip.readUInt16LE(eocd + 10);
  const cdOffset = zip.readUInt32LE(eocd + 16);
  if (total === 0xffff || cdOffset === 0xffffffff) throw unsupported('ZIP64 archives are not supported');

  const files: Member[] = [];
  let p = cdOffset;
  for (let i = 0; i < total; i++) {
    need(zip, p, 46);
    if (zip.readUInt32LE(p) !== CENTRAL_SIG) throw malformed(`no central directory entry at offset ${p}`);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    need(zip, p + 46, nameLen);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLen);
    if (!name.endsWith('/')) {
      files.push({
        name,
        flags: zip.readUInt16LE(p + 8),
        method: zip.readUInt16LE(p + 10),
        crc: zip.readUInt32LE(p + 16),
        compressedSize: zip.readUInt32LE(p + 20),
        size: zip.readUInt32LE(p + 24),
        localOffset: zip.readUInt32LE(p + 42),
      });
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  if (files.length !== 1) {
    const names = files.slice(0, 5).map((f) => f.name).join(', ');
    throw unsupported(`the zip archive holds ${files.length} files${names !== '' ? ` (${names}${files.length > 5 ? ', …' : ''})` : ''}; expected exactly one`);
  }
  return extract(zip, files[0]!, maxBytes);
}

interface Member {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function extract(zip: Buffer, m: Member, maxBytes: number): Buffer {
  if ((m.flags & 1) !== 0) throw unsupported(`${m.name} in the zip archive is encrypted`);
  if (m.method !== 0 && m.method !== 8) throw unsupported(`${m.name} in the zip archive uses compression method ${m.method}; expected stored (0) or deflate (8)`);
  if (m.size > maxBytes) throw new FeedError('too-large', `${m.name} in the zip archive is ${m.size} bytes once extracted; expected at most ${maxBytes} (maxBytes)`);
  need(zip, m.localOffset, 30);
  if (zip.readUInt32LE(m.localOffset) !== LOCAL_SIG) throw malformed(`no local header for ${m.name} at offset ${m.localOffset}`);
  const start = m.localOffset + 30 + zip.readUInt16LE(m.localOffset + 26) + zip.readUInt16LE(m.localOffset + 28);
  if (start + m.compressedSize > zip.length) throw new FeedError('truncated', `${m.name} in the zip archive ends past the end of the archive; expected a complete archive`);
  const data = zip.subarray(start, start + m.compressedSize);
  let out: Buffer;
  if (m.method === 0) out = data;
  else {
    try {
      // The declared size can lie: the cap on inflated output is what stops a zip bomb.
      out = zlib.inflateRawSync(data, { maxOutputLength: maxBytes });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw new FeedError('too-large', `${m.name} in the zip archive inflates past ${maxBytes} bytes (a zip bomb?); expected at most ${maxBytes} (maxBytes)`, { cause: err });
      if (code === 'Z_BUF_ERROR') throw new FeedError('truncated', `${m.name} in the zip archive: the deflate stream ends early; expected a complete archive`, { cause: err });
      throw new FeedError('decompression', `${m.name} in the zip archive: corrupt deflate data (${(err as Error).message})`, { cause: err });
    }
  }
  if (out.length !== m.size) throw malformed(`${m.name} extracts to ${out.length} bytes; the archive says ${m.size}`);
  // zlib.crc32 exists from Node 20.15; without it the size check above is all there is.
  if (typeof zlib.crc32 === 'function' && zlib.crc32(out) >>> 0 !== m.crc >>> 0) throw malformed(`${m.name} fails its CRC-32 check`);
  return out;
}

function findEocd(zip: Buffer): number {
  // The record sits at the very end, followed only by a comment of at most 65535 bytes.
  const lowest = Math.max(0, zip.length - EOCD_MIN - 0xffff);
  for (let i = zip.length - EOCD_MIN; i >= lowest; i--) if (zip.readUInt32LE(i) === EOCD_SIG) return i;
  return -1;
}

function need(zip: Buffer, offset: number, length: number): void {
  if (offset + length > zip.length) throw new FeedError('truncated', `zip archive structure runs past the end of the data at offset ${offset}; expected a complete archive`);
}

function unsupported(what: string): FeedError {
  return new FeedError('decompression', `${what}; c2dns reads zip archives holding a single stored or deflated file`);
}

function malformed(what: string): FeedError {
  return new FeedError('decompression', `malformed zip archive: ${what}`);
}
