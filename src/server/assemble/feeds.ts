// Feeds: every configured list loaded (disk copies first, then local files and first fetches),
// emergency blocks published ahead of them, the outcome logged per list. A local list that cannot
// be loaded stops start-up before anything binds. In a fleet (`cluster`), the instance joins it
// here and catches up with the fleet's emergency blocks and quarantine before anything binds.
import type { Config } from '../../config/schema.js';
import type { Fleet } from '../../fleet/fleet.js';
import { EmergencyStore, type EmergencyBlock } from '../../feeds/emergency.js';
import { FeedManager, isEmptyBlockList, SourceLoadError } from '../../feeds/manager.js';
import type { OpLogger } from '../../observe/oplog.js';
import type { PolicyHolder } from '../../policy/snapshot.js';
import { announceListsChanged } from '../cluster.js';

export interface FeedParts {
  feeds: FeedManager;
  emergency: EmergencyStore;
  /** The fleet membership (cluster section, in the process that owns it); null for a single instance. */
  fleet: Fleet | null;
}

export async function loadFeeds(cfg: Config, oplog: OpLogger, policy: PolicyHolder, refresh: boolean, owner = refresh): Promise<FeedParts> {
  const feeds = new FeedManager(cfg, oplog, policy);
  // In a cluster only the refreshing worker writes the state directory or fetches feeds at start;
  // the others read local files and the disk copies, and reload when told.
  feeds.persist = refresh;
  const emergency = new EmergencyStore(cfg.state.dir!, feeds.guard, (what, detail) => oplog.warn(detail, what));
  // Answering starts once the lists are published (with the emergency blocks: one publish, not
  // queued behind the saves); their disk copies are written meanwhile.
  await feeds.loadInitial({ network: refresh, saveInBackground: true, emergency: emergency.list() });
  // The thread updates compile in, started now rather than by the first SIGHUP under load.
  feeds.compiler.prepare?.();
  for (const s of feeds.sources) {
    const c = s.compiled;
    const unenforced = c?.report.unsupported ?? 0;
    oplog.info(
      {
        list: s.config.name,
        origin: s.config.url ?? s.config.path,
        format: c?.format ?? null,
        entries: c?.rules.length ?? 0,
        fromDiskCopy: s.fromLastGood,
        rejected: c?.report.rejected ?? 0,
        guarded: c?.guarded.length ?? 0,
        notEnforceable: c?.notEnforceable.length ?? 0,
        ips: c?.ips.length ?? 0,
        unsupportedRules: unenforced,
      },
      'list loaded',
    );
    if (isEmptyBlockList(s)) oplog.warn({ list: s.config.name, origin: s.config.url ?? s.config.path }, 'list is empty: a block list with no entries blocks nothing (wrong file?)');
    if (unenforced > 0) oplog.warn({ list: s.config.name, unsupportedRules: unenforced, examples: c?.report.unsupportedExamples.slice(0, 3) }, 'list has rules c2dns does not enforce (see `c2dns lists`)');
    if (c === null && s.config.path !== undefined) {
      // A local list that cannot be loaded is a configuration mistake: refuse to start rather
      // than run without it. (A URL feed that is down at first start is retried instead, so
      // the network keeps its DNS; the error is logged.)
      throw new SourceLoadError(`list "${s.config.name}": cannot load ${s.config.path}: ${s.lastFailure?.message ?? 'unknown error'}`);
    }
    if (c === null) oplog.error({ list: s.config.name, failure: s.lastFailure }, 'list has no good copy yet: it blocks nothing until an update succeeds');
  }
  let published = Promise.resolve();
  const apply = (blocks: EmergencyBlock[]): Promise<void> => {
    published = feeds.setEmergency(blocks);
    announceListsChanged(); // cluster: the other workers reload the file
    return published;
  };
  emergency.onChange = (blocks) => void apply(blocks);
  let fleet: Fleet | null = null;
  if (cfg.cluster !== undefined && owner) {
    // Loaded only here: a single instance never loads the Redis client.
    const { Fleet } = await import('../../fleet/index.js');
    fleet = await Fleet.start({ cluster: cfg.cluster, stateDir: cfg.state.dir!, oplog, feeds, emergency, apply, settled: () => published });
  }
  return { feeds, emergency, fleet };
}
