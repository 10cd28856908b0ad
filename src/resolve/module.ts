// A stage module: how one stage is made from the configuration and what it needs. The chain is
// a list of these (chain.ts); adding a stage is one file exporting a module plus one line there.
import type { Config } from '../config/schema.js';
import type { PolicyHolder } from '../policy/snapshot.js';
import type { QuarantineStore } from '../quarantine/store.js';
import type { BlockAnswers } from './block-answer.js';
import type { Stage } from './types.js';

/** What stages are made from: the configuration and the shared, long-lived parts. */
export interface StageDeps {
  readonly cfg: Config;
  /** The live policy; stages read `policy.current` per query. */
  readonly policy: PolicyHolder;
  readonly answers: BlockAnswers;
  readonly quarantine: QuarantineStore;
}

export interface StageModule<S extends Stage = Stage> {
  /** The name the start-up log, /api/status and the README diagram show. */
  readonly name: string;
  /** False leaves the stage out of the chain (e.g. cache with maxEntries 0). */
  enabled(deps: StageDeps): boolean;
  /** `next` is null only for the last stage, which answers everything it gets. */
  create(deps: StageDeps, next: Stage | null): S;
}

/** For stages that always have a next one. */
export function requireNext(name: string, next: Stage | null): Stage {
  if (next === null) throw new Error(`stage "${name}" cannot be the last in the chain`);
  return next;
}
