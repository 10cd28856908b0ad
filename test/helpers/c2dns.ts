// Starts c2dns in-process from a real YAML config file (the same path `c2dns serve --config`
// takes), listening on an ephemeral loopback port and logging queries to a temp file.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server/app.js';

export interface TestServer {
  server: RunningServer;
  port: number;
  dir: string;
  logFile: string;
  /** Query log lines written so far, parsed. */
  logLines(): Record<string, unknown>[];
  /** Waits until `n` query log lines exist (the log is asynchronous). */
  waitForLog(n: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  /** Waits until `times` lines for each of `qnames` exist; returns all lines. */
  waitForQueries(qnames: string[], times?: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function startC2dns(config: Record<string, unknown>, files: Record<string, string> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'c2dns-test-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const logFile = join(dir, 'queries.log');
  const full = { listen: ['127.0.0.1:0'], state: { dir: join(dir, 'state') }, admin: { listen: '127.0.0.1:0' }, ...config, log: { destination: logFile, ...(config.log as object | undefined) } };
  const file = join(dir, 'c2dns.yaml');
  writeFileSync(file, YAML.stringify(full));
  const cfg = loadConfig({ file });
  const server = await startServer(cfg, pino({ level: 'silent' }));
  const logLines = (): Record<string, unknown>[] =>
    existsSync(logFile)
      ? readFileSync(logFile, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  return {
    server,
    port: server.udp[0]!.port,
    dir,
    logFile,
    logLines,
    async waitForLog(n, timeoutMs = 2000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const lines = logLines();
        if (lines.length >= n || Date.now() > end) return lines;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async waitForQueries(qnames, times = 1, timeoutMs = 2000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const lines = logLines();
        if (qnames.every((q) => lines.filter((l) => l.qname === q).length >= times) || Date.now() > end) return lines;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () => server.close(500),
  };
}
