// Reopening the query log for logrotate, against a running c2dns answering real DNS queries:
// POST /api/log/reopen after the file was moved sends later lines to a new file at the same path
// and leaves the earlier ones in the moved file; a new file that cannot be opened is a 500 and the
// lines keep going to the moved file (none lost); stdout and a disabled log have nothing to reopen.
// QueryLog.reopen() is also checked on its own. (SIGUSR1 through the real CLI: test/deploy/packaging.test.ts.)
import fs, { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { QueryEvent } from '../../src/observe/query-event.js';
import { QueryLog } from '../../src/observe/querylog.js';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const TOKEN = 'log-reopen-token-0123456789';

const qnames = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => (JSON.parse(l) as { qname: string }).qname)
    : [];

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function post(c2: TestServer, path: string, token: string | null = TOKEN): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${c2.server.admin!.url}${path}`, { method: 'POST', headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

let up: Upstream;
let c2: TestServer;

beforeAll(async () => {
  up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10' }] }));
  c2 = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], lists: [{ name: 'c2', path: 'c2.txt' }], admin: { listen: '127.0.0.1:0', token: TOKEN } }, { 'c2.txt': 'akamaicontainer.com\n' });
});

afterAll(async () => {
  await c2?.close();
  await up?.close();
});

describe('POST /api/log/reopen', () => {
  it('needs the token', async () => {
    const r = await post(c2, '/api/log/reopen', null);
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('unauthorized');
  });

  it('after logrotate moved the file, later queries go to a new file and earlier ones stay in the moved one', async () => {
    await ask(c2.port, 'before.example.org', T.A);
    await waitFor(() => qnames(c2.logFile).includes('before.example.org'), 'the first line');
    const rotated = `${c2.logFile}.1`;
    renameSync(c2.logFile, rotated); // what logrotate does

    // Until the reopen, lines follow the open file to its new name.
    await ask(c2.port, 'moved.example.org', T.A);
    await waitFor(() => qnames(rotated).includes('moved.example.org'), 'a line in the moved file');
    expect(existsSync(c2.logFile)).toBe(false);

    const r = await post(c2, '/api/log/reopen');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ reopened: true, destination: c2.logFile, detail: `reopened ${c2.logFile}` });
    expect(existsSync(c2.logFile)).toBe(true);

    await ask(c2.port, 'after.example.org', T.A);
    await ask(c2.port, 'akamaicontainer.com', T.A);
    await waitFor(() => qnames(c2.logFile).length === 2, 'two lines in the new file');
    expect(qnames(c2.logFile)).toEqual(['after.example.org', 'akamaicontainer.com']);
    expect(qnames(rotated)).toEqual(['before.example.org', 'moved.example.org']);
  });

  it('when the new file cannot be opened: 500 saying why, and lines keep going to the moved file', async () => {
    const rotated = `${c2.logFile}.2`;
    renameSync(c2.logFile, rotated);
    mkdirSync(c2.logFile); // a directory where the file should be: open() fails with EISDIR
    try {
      const r = await post(c2, '/api/log/reopen');
      expect(r.status).toBe(500);
      expect(r.json).toEqual({ error: 'log_reopen_failed', detail: expect.stringMatching(/could not be reopened \(lines keep going to the previous file\): EISDIR/) });
      await ask(c2.port, 'during-failure.example.org', T.A);
      await waitFor(() => qnames(rotated).includes('during-failure.example.org'), 'the line in the still-open file');
      // DNS is still answered and the admin listener still works.
      expect((await fetch(`${c2.server.admin!.url}/healthz`)).status).toBe(200);
    } finally {
      rmdirSync(c2.logFile);
    }
    const again = await post(c2, '/api/log/reopen');
    expect(again.json.reopened).toBe(true);
    await ask(c2.port, 'recovered.example.org', T.A);
    await waitFor(() => qnames(c2.logFile).includes('recovered.example.org'), 'the line in the reopened file');
    expect(qnames(c2.logFile)).toEqual(['recovered.example.org']);
  });

  it('has nothing to reopen when the log goes to stdout or is off', async () => {
    const toStdout = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], lists: [], log: { destination: 'stdout' }, admin: { listen: '127.0.0.1:0', token: TOKEN } });
    const off = await startC2dns({ upstreams: [`127.0.0.1:${up.port}`], lists: [], log: { queries: 'none' }, admin: { listen: '127.0.0.1:0', token: TOKEN } });
    try {
      expect(await post(toStdout, '/api/log/reopen')).toEqual({ status: 200, json: { reopened: false, destination: 'stdout', detail: 'the query log goes to stdout: nothing to reopen' } });
      const r = await post(off, '/api/log/reopen');
      expect(r).toEqual({ status: 200, json: { reopened: false, destination: off.logFile, detail: 'the query log is off (log.queries: none): nothing to reopen' } });
    } finally {
      await toStdout.close();
      await off.close();
    }
  });
});

describe('QueryLog.reopen', () => {
  /** A real QueryEvent, as c2dns hands it to its observers, with another qname. */
  let sample: QueryEvent;
  beforeAll(async () => {
    const seen: QueryEvent[] = [];
    c2.server.observers.push({ onQuery: (e) => seen.push(e) });
    await ask(c2.port, 'sample.example.org', T.A);
    await waitFor(() => seen.some((e) => e.qname === 'sample.example.org'), 'the sample event');
    sample = seen.find((e) => e.qname === 'sample.example.org')!;
  });
  const event = (qname: string): QueryEvent => ({ ...sample, qname, time: Date.now() });

  it('resolves true for a file, moves later lines to the new file, and can be called before the first open completed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-qlog-'));
    const file = join(dir, 'q.log');
    const log = new QueryLog('all', file);
    expect(await log.reopen()).toBe(true); // right after construction: waits for the first open
    log.onQuery(event('one.example'));
    log.flush();
    await waitFor(() => qnames(file).length === 1, 'the first line');
    renameSync(file, `${file}.1`);
    expect(await log.reopen()).toBe(true);
    expect(existsSync(file)).toBe(true);
    log.onQuery(event('two.example'));
    log.flush();
    await waitFor(() => qnames(file).length === 1, 'the line in the new file');
    expect(qnames(`${file}.1`)).toEqual(['one.example']);
    expect(qnames(file)).toEqual(['two.example']);
  });

  it('rejects when the file cannot be opened, and keeps writing to the file it has', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-qlog-'));
    const file = join(dir, 'q.log');
    const log = new QueryLog('all', file);
    expect(await log.reopen()).toBe(true);
    renameSync(file, `${file}.1`);
    mkdirSync(file);
    await expect(log.reopen()).rejects.toThrow(/EISDIR/);
    log.onQuery(event('kept.example'));
    log.flush();
    await waitFor(() => qnames(`${file}.1`).length === 1, 'the line in the old file');
    expect(qnames(`${file}.1`)).toEqual(['kept.example']);
  });

  it('after a failed reopen, the next one closes the previous descriptor once, not twice', async () => {
    // A second close of the same number would close whatever socket or file reused it meanwhile
    // (this once made a DNS answer vanish in CI).
    const dir = mkdtempSync(join(tmpdir(), 'c2dns-qlog-'));
    const file = join(dir, 'q.log');
    const log = new QueryLog('all', file);
    expect(await log.reopen()).toBe(true);
    const oldFd = (log as unknown as { dest: { fd: number } }).dest.fd;
    const close = vi.spyOn(fs, 'close');
    try {
      renameSync(file, `${file}.1`);
      mkdirSync(file);
      await expect(log.reopen()).rejects.toThrow(/EISDIR/);
      rmdirSync(file);
      expect(await log.reopen()).toBe(true);
      await waitFor(() => close.mock.calls.some((c) => c[0] === oldFd), 'the old descriptor closed');
      await new Promise((r) => setTimeout(r, 50));
      expect(close.mock.calls.filter((c) => c[0] === oldFd)).toHaveLength(1);
    } finally {
      close.mockRestore();
    }
  });

  it('resolves false for stdout and for a disabled log', async () => {
    expect(await new QueryLog('all', 'stdout').reopen()).toBe(false);
    expect(await new QueryLog('none', join(tmpdir(), 'never-written.log')).reopen()).toBe(false);
  });
});
