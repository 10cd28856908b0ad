// The query log's chunks: lines are written into a few buffers that are reused once the
// destination has written them. Whatever the destination's pace, the file holds exactly the lines,
// in order: a chunk is never written into again while its bytes still wait to be written.
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { pbkdf2 } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { QueryLog } from '../../src/observe/querylog.js';
import { event } from './querylog-events.js';

const CHUNK = 256 * 1024;
const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempPath(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-qlog-chunks-'));
  dirs.push(dir);
  return join(dir, name);
}

/** The file's size, 0 before it is created. */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `count` events whose lines vary in length (client names of 0..299 bytes now and then). */
function events(count: number): QueryEvent[] {
  return Array.from({ length: count }, (_, i) => (i % 7 === 0 ? event(i, { clientName: 'n'.repeat(i % 300) }) : event(i)));
}

/** Logs `es` `batch` at a time, `pauseMs` between batches (the event loop runs: writes complete). */
async function logAll(log: QueryLog, es: readonly QueryEvent[], batch: number, pauseMs: number): Promise<void> {
  for (let i = 0; i < es.length; i += batch) {
    for (const e of es.slice(i, i + batch)) log.onQuery(e);
    await sleep(pauseMs);
  }
}

/** The file's text once it has `bytes` bytes (or after 10 s). */
async function fileText(path: string, bytes: number): Promise<string> {
  for (let waited = 0; ; waited += 20) {
    const text = readFileSync(path, 'latin1');
    if (text.length >= bytes || waited > 10_000) return text;
    await sleep(20);
  }
}

const chunksMade = (alloc: { mock: { calls: unknown[][] } }): number => alloc.mock.calls.filter((c) => c[0] === CHUNK).length;

describe('query log chunks', () => {
  it('writes 30 chunks of lines through a few buffers, byte for byte and in order', async () => {
    const path = tempPath('query.log');
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const log = new QueryLog('all', path);
    const es = events(20_000);
    const expected = es.map((e) => log.line(e)).join('');
    expect(expected.length).toBeGreaterThan(30 * CHUNK);
    // Batch by batch, each once the file is at most two chunks behind (as a disk that keeps up).
    let sent = 0;
    for (let i = 0; i < es.length; i += 500) {
      const batch = es.slice(i, i + 500);
      sent += batch.reduce((n, e) => n + log.line(e).length, 0);
      await logAll(log, batch, 500, 0);
      for (let waited = 0; sizeOf(path) < sent - 2 * CHUNK && waited < 10_000; waited += 2) await sleep(2);
    }
    log.flush();
    expect(await fileText(path, expected.length)).toBe(expected);
    // A new chunk per full one would be 30; one filled while another is written needs 2 or 3 (a
    // write that waits in a busy CI machine's thread pool can take one or two more).
    expect(chunksMade(alloc)).toBeLessThanOrEqual(6);
  });

  it('a graceful stop (drain) while a write still waits in the thread pool leaves every line in order (flush alone put that chunk last)', async () => {
    const path = tempPath('query.log');
    const log = new QueryLog('all', path);
    await sleep(50); // the file is open
    const es = events(4_000); // ~3 chunks
    const expected = es.map((e) => log.line(e)).join('');
    // Every thread of libuv's pool busy for ~300 ms: the log's first write waits behind them.
    const busy = Array.from({ length: Number(process.env.UV_THREADPOOL_SIZE ?? 4) }, () => new Promise((r) => pbkdf2('x', 'salt', 300_000, 32, 'sha256', r)));
    for (const e of es) log.onQuery(e);
    await log.drain(10_000);
    await Promise.all(busy);
    const text = readFileSync(path, 'latin1');
    expect(text.length).toBe(expected.length);
    expect(text === expected).toBe(true); // not toBe: a megabyte diff helps nobody
  });

  it('never writes into a chunk the destination has not written yet: a pipe read slowly gets every byte in order', async () => {
    const fifo = tempPath('query.fifo');
    execFileSync('mkfifo', [fifo]);
    // The read end first, non-blocking: the log's open for writing then succeeds at once, and its
    // writes (a blocking descriptor) wait in the thread pool while the pipe's 64 KiB are full.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const log = new QueryLog('all', fifo);
      const es = events(12_000);
      const expected = es.map((e) => log.line(e)).join('');
      const got: Buffer[] = [];
      let have = 0;
      const piece = Buffer.alloc(32 * 1024);
      // 32 KiB every 2 ms: the log is handed its ~5 MB far faster than that.
      const reading = setInterval(() => {
        try {
          const n = readSync(reader, piece, 0, piece.length, null);
          got.push(Buffer.from(piece.subarray(0, n)));
          have += n;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        }
      }, 2);
      await logAll(log, es, 1000, 1);
      // The last partial chunk goes out on the log's quarter-second timer (flush() would block on the pipe).
      for (let waited = 0; have < expected.length && waited < 20_000; waited += 20) await sleep(20);
      clearInterval(reading);
      expect(Buffer.concat(got).toString('latin1')).toBe(expected);
    } finally {
      closeSync(reader);
    }
  });

  it('keeps every line across a reopen in the middle of the stream: the moved file then the new one', async () => {
    const path = tempPath('query.log');
    const log = new QueryLog('all', path);
    const es = events(16_000);
    const expected = es.map((e) => log.line(e)).join('');
    await logAll(log, es.slice(0, 8_000), 500, 2);
    renameSync(path, `${path}.1`);
    expect(await log.reopen()).toBe(true);
    await logAll(log, es.slice(8_000), 500, 2);
    log.flush();
    const before = readFileSync(`${path}.1`, 'latin1');
    expect(before.length).toBeGreaterThan(0);
    expect(before + (await fileText(path, expected.length - before.length))).toBe(expected);
  });
});
