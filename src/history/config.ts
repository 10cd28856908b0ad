// `history` configuration: where the query history lives and how long it is kept. Mounted at
// key `history` of the main schema (src/config/schema.ts).
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const historySchema = z
  .object({
    /** Record every answered query for retro-hunts and `c2dns hunt`. */
    enabled: z.boolean().default(true),
    /** Segment directory; default <state.dir>/history. */
    dir: z.string().min(1).optional(),
    /** Segments whose last query is older than this are deleted. */
    retentionDays: int(1, 3650).default(30),
    /** Time slot per segment file (aligned to the clock; 60 = one file per hour). */
    segmentMinutes: int(1, 1440).default(60),
    /** Records waiting for the disk at most; beyond that new ones are dropped (and counted), never queued. */
    maxBufferedRecords: int(1000, 10_000_000).default(100_000),
  })
  .strict()
  .default({});

export type HistoryConfig = z.infer<typeof historySchema>;

/** The parts of the main Config the history needs; typed loosely so it works before and after the schema mount. */
export interface HistoryConfigHost {
  state: { dir?: string | undefined };
  history?: Partial<HistoryConfig> | undefined;
}

/** The history settings of a loaded configuration, defaults applied, with the directory resolved. */
export function resolveHistoryConfig(cfg: HistoryConfigHost): HistoryConfig & { dir: string } {
  const h = historySchema.parse(cfg.history ?? {});
  // loadConfig resolves state.dir (and a relative history.dir against the config file's folder);
  // without it the history would land wherever the process happened to start.
  if (h.dir === undefined && cfg.state.dir === undefined) throw new Error('history: state.dir is not resolved (load the configuration with loadConfig)');
  const dir = h.dir === undefined ? join(cfg.state.dir!, 'history') : isAbsolute(h.dir) ? h.dir : resolve(h.dir);
  return { ...h, dir };
}
