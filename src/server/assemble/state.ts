// Where state lives: state.dir when preflight found it usable; otherwise a temporary directory
// that goes with the process, said loudly (log and /readyz `degraded`), so DNS still starts.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import type { OpLogger } from '../../observe/oplog.js';
import type { PreflightReport } from './preflight.js';

export interface StatePlace {
  /** The configuration with state.dir pointing where state is really kept. */
  cfg: Config;
  /** The /readyz `degraded` line when a temporary directory is used (removed on close), else null. */
  fallback: string | null;
}

export function placeState(cfg: Config, pre: PreflightReport, oplog: OpLogger): StatePlace {
  if (pre.stateDirUnusable === null) return { cfg, fallback: null };
  const tmp = mkdtempSync(join(tmpdir(), 'c2dns-state-'));
  const fallback = `state.dir ${cfg.state.dir}: ${pre.stateDirUnusable}; state kept in ${tmp} until restart (no last good list copies to start from, quarantines and marks not kept across restarts)`;
  oplog.error({ stateDir: cfg.state.dir, problem: pre.stateDirUnusable, using: tmp }, 'state directory unusable: serving with a temporary one');
  return { cfg: { ...cfg, state: { ...cfg.state, dir: tmp } }, fallback };
}
