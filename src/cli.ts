#!/usr/bin/env node
// c2dns command line. `c2dns serve [--config FILE] [--listen ADDR:PORT]... [--upstream ADDR[:PORT]]...`
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/load.js';
import { ListLoadError } from './blocklist/load.js';
import { createOpLog } from './observe/oplog.js';
import { startServer } from './server/app.js';

const USAGE = `usage: c2dns serve [--config FILE] [--listen ADDR:PORT]... [--upstream ADDR[:PORT]]...

  --config FILE        YAML configuration (see config/c2dns.example.yaml); optional
  --listen ADDR:PORT   listen on this address, UDP and TCP (repeatable; replaces "listen")
  --upstream ADDR:PORT forward to this resolver (repeatable; replaces "upstreams")
`;

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string', multiple: true, short: 'l' },
      upstream: { type: 'string', multiple: true, short: 'u' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const cfg = loadConfig({ file: values.config, listen: values.listen, upstreams: values.upstream });
  const oplog = createOpLog(cfg.log.level);
  const server = await startServer(cfg, oplog);

  process.on('unhandledRejection', (err) => oplog.error({ err }, 'unhandled rejection (kept running)'));
  process.on('uncaughtException', (err) => oplog.error({ err }, 'uncaught exception (kept running)'));
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      oplog.info({ signal }, 'shutting down: finishing in-flight queries');
      server.close().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  oplog.info('stopped');
  return 0;
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    switch (cmd) {
      case 'serve':
        return await serve(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        process.stderr.write(`c2dns: unknown command "${cmd}"\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof ListLoadError) {
      process.stderr.write(`c2dns: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      process.stderr.write(`c2dns: ${e.message}\n${USAGE}`);
      return 2;
    }
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      process.stderr.write(`c2dns: cannot listen: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`c2dns: ${e.stack ?? String(err)}\n`);
    return 1;
  }
}

main().then((code) => {
  process.exitCode = code;
});
