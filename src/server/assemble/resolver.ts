// The resolver: the stage chain composed from its one list, the dispatcher that runs it, and the
// health and metrics views of its upstreams and cache.
import { UpstreamHealth } from '../../admin/readiness.js';
import type { Config } from '../../config/schema.js';
import type { OpLogger } from '../../observe/oplog.js';
import type { QueryObserver } from '../../observe/query-event.js';
import type { PolicyHolder } from '../../policy/snapshot.js';
import type { QuarantineStore } from '../../quarantine/store.js';
import { BlockAnswers } from '../../resolve/block-answer.js';
import { cacheStage, type CacheStage } from '../../resolve/cache.js';
import { clientsStage, type ClientsStage } from '../../resolve/clients.js';
import { conditionalStage, type ConditionalStage } from '../../resolve/conditional.js';
import { composeChain, type Chain } from '../../resolve/chain.js';
import { forwardStage, type ForwardStage } from '../../resolve/forward.js';
import { quarantineStage, type QuarantineStage } from '../../resolve/quarantine.js';
import { rateLimitStage, type RateLimitStage } from '../../resolve/ratelimit.js';
import { Dispatcher } from '../dispatch.js';
import { ServerEdns } from '../edns-server.js';

export interface ResolverParts {
  chain: Chain;
  dispatcher: Dispatcher;
  forward: ForwardStage;
  /** null when the cache is disabled (cache.maxEntries: 0). */
  cache: CacheStage | null;
  quarantine: QuarantineStage | null;
  /** Who really asked (ECS/MAC/CPE-ID from trusted forwarders); its counters feed the metrics. */
  clients: ClientsStage | null;
  /** null when rateLimit.enabled is false. */
  rateLimit: RateLimitStage | null;
  upstreamHealth: UpstreamHealth;
  /** NSID, TCP keepalive and DNS Cookies towards clients. */
  edns: ServerEdns;
  /** Conditional forwarding (config `forwarding`): one upstream set per rule; null without rules. */
  conditional: ConditionalStage | null;
}

export function createResolver(cfg: Config, oplog: OpLogger, policy: PolicyHolder, quarantineStore: QuarantineStore, observers: readonly QueryObserver[]): ResolverParts {
  const chain = composeChain({ cfg, policy, answers: BlockAnswers.fromConfig(cfg.blocking, cfg.groups), quarantine: quarantineStore });
  const forward = chain.instance(forwardStage)!;
  const edns = ServerEdns.fromConfig(cfg);
  const dispatcher = new Dispatcher(chain.head, observers, (err) => oplog.error({ err }, 'internal error while answering a query'), edns);
  const upstreamHealth = new UpstreamHealth(forward.upstreams, { windowMs: cfg.admin.upstreamWindowSeconds * 1000 });
  return { chain, dispatcher, forward, cache: chain.instance(cacheStage), quarantine: chain.instance(quarantineStage), clients: chain.instance(clientsStage), rateLimit: chain.instance(rateLimitStage), upstreamHealth, edns, conditional: chain.instance(conditionalStage) };
}
