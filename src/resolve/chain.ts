// The request pipeline, in the order a query flows. This list is the one place the chain is
// written: the server composes it, the start-up log and /api/status print it, and a test checks
// the README's diagram against it. A new stage is one module file plus one line here.
import { accessStage } from './access.js';
import { cacheStage } from './cache.js';
import { chaosStage } from './chaos.js';
import { clientIpStage } from './client-ip.js';
import { clientsStage } from './clients.js';
import { conditionalStage } from './conditional.js';
import { forwardStage } from './forward.js';
import { localStage } from './local.js';
import type { StageDeps, StageModule } from './module.js';
import { policyStage } from './policy.js';
import { quarantineStage } from './quarantine.js';
import { rateLimitStage } from './ratelimit.js';
import { responseStage } from './response.js';
import type { Stage } from './types.js';

export const CHAIN: readonly StageModule[] = [
  accessStage, //     clients outside access.allow: REFUSED
  chaosStage, //      class CH/HS questions (version.bind, id.server…): REFUSED, never forwarded
  rateLimitStage, //  per-client token buckets: over the rate, dropped/TC=1 (UDP) or REFUSED
  clientsStage, //    who really asked: ECS/MAC/CPE-ID from trusted forwarders, client names
  clientIpStage, //   RPZ client-IP rules: the rule's action for everything those clients ask
  quarantineStage, // quarantined clients: null answers except the remediation allowlist
  policyStage, //     the question's name against block/allow and watch lists
  localStage, //      localRecords and locally served zones (localhost, home.arpa, private reverse zones): answered here
  responseStage, //   the answer's CNAME/DNAME/SVCB targets and addresses against the lists (fresh and cached)
  cacheStage, //      replays upstream answers
  conditionalStage, // forwarding rules: names under a rule's domain go to its upstreams, never to the default ones
  forwardStage, //    asks the upstreams
];

export interface Chain {
  /** The first stage: where the dispatcher hands every query. */
  readonly head: Stage;
  /** Names of the stages in the chain, in order (disabled ones left out). */
  readonly names: readonly string[];
  /** The instance a module made, or null when it is disabled. */
  instance<S extends Stage>(m: StageModule<S>): S | null;
}

/** Builds the enabled stages from last to first, each handed the one after it. */
export function composeChain(deps: StageDeps, modules: readonly StageModule[] = CHAIN): Chain {
  const made = new Map<StageModule, Stage>();
  const enabled = modules.filter((m) => m.enabled(deps));
  let next: Stage | null = null;
  for (let i = enabled.length - 1; i >= 0; i--) {
    const m = enabled[i]!;
    next = m.create(deps, next);
    made.set(m, next);
  }
  if (next === null) throw new Error('the stage chain is empty');
  const head = next;
  return {
    head,
    names: enabled.map((m) => m.name),
    instance: <S extends Stage>(m: StageModule<S>): S | null => (made.get(m) as S | undefined) ?? null,
  };
}
