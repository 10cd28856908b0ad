// Feeds: every configured list loaded (disk copies first, then local files and first fetches),
// emergency blocks published ahead of them, the outcome logged per list. A local list that cannot
// be loaded stops start-up before anything binds.
import type { Config } from '../../config/schema.js';
import { EmergencyStore } from '../../feeds/emergency.js';
import { FeedManager, isEmptyBlockList, SourceLoadError } from '../../feeds/manager.js';
import type { OpLogger } from '../../observe/oplog.js';
import type { PolicyHolder } from '../../policy/snapshot.js';
import { announceListsChanged } from '../cluster.js';

export interface FeedParts {
  feeds: FeedManager;
  emergency: EmergencyStore;
}

export async function loadFeeds(cfg: Config, oplog: OpLogger, policy: PolicyHolder, refresh: boolean): Promise<FeedParts> {
  const feeds = new FeedManager(cfg, oplog, policy);
  // In a cluster only the refreshing worker writes the state directory or fetches feeds at start;
  // the others read local files and the disk copies, and reload when told.
  feeds.persist = refresh;
  await feeds.loadInitial({ network: refresh });
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
  const emergency = new EmergencyStore(cfg.state.dir!, feeds.guard, (what, detail) => oplog.warn(detail, what));
  await feeds.setEmergency(emergency.list());
  emergency.onChange = (blocks) => {
    void feeds.setEmergency(blocks);
    announceListsChanged(); // cluster: the other workers reload the file
  };
  return { feeds, emergency };
}
