// Test vectors shared by the feed tests: compressed bombs and small zip archives built here, so
// no binary fixture has to be trusted or kept in sync.
import zlib from 'node:zlib';
import { expect } from 'vitest';
import { FeedError, type FeedFailure } from '../../src/feeds/errors.js';

export const MiB = 1024 * 1024;

/** 100 MiB of zeros as a valid gzip file (ten concatenated 10 MiB members, ~100 KB in all). */
export function gzipBomb(): Buffer {
  const member = zlib.gzipSync(Buffer.alloc(10 * MiB), { level: 9 });
  return Buffer.concat(Array.from({ length: 10 }, () => member));
}

export interface ZipMember {
  name: string;
  data: Buffer;
  /** Store instead of deflate. */
  stored?: boolean;
  /** Lie about the uncompressed size in the headers. */
  declaredSize?: number;
}

/** A minimal zip archive (local headers, central directory, end record). */
export function makeZip(members: ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const comp = m.stored === true ? m.data : zlib.deflateRawSync(m.data);
    const crc = zlib.crc32(m.data);
    const size = m.declaredSize ?? m.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(m.stored === true ? 0 : 8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(comp.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(m.stored === true ? 0 : 8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(comp.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, comp);
    centrals.push(central, name);
    offset += local.length + name.length + comp.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** The FeedError `fn` throws, checked for its reason (and message); anything else fails the test. */
export function throwsFeed(fn: () => unknown, reason: FeedFailure, message?: RegExp): FeedError {
  try {
    fn();
  } catch (err) {
    return check(err, reason, message);
  }
  throw new Error(`expected FeedError ${reason}, but the call succeeded`);
}

export async function rejectsFeed(p: Promise<unknown>, reason: FeedFailure, message?: RegExp): Promise<FeedError> {
  try {
    await p;
  } catch (err) {
    return check(err, reason, message);
  }
  throw new Error(`expected FeedError ${reason}, but the promise resolved`);
}

function check(err: unknown, reason: FeedFailure, message: RegExp | undefined): FeedError {
  if (!(err instanceof FeedError)) throw err;
  // One string, so a wrong reason shows the message that explains it.
  expect(`${err.reason}: ${err.message}`).toMatch(new RegExp(`^${reason}: `));
  if (message !== undefined) expect(err.message).toMatch(message);
  return err;
}
