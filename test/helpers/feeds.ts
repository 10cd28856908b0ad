// Test data about feeds shared by the parser, conformance and feed tests: the real public files
// in ../shared/feeds (read when present; the tests say clearly when they are not), our own
// fixtures, and the 21 dedicated 3CX C2 domains every vendor list agrees on.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_FEEDS = fileURLToPath(new URL('../../../shared/feeds/', import.meta.url));
export const haveSharedFeeds = existsSync(SHARED_FEEDS);

/** Logs once per test file that uses it when ../shared/feeds is absent. */
export function warnIfNoSharedFeeds(who: string): void {
  if (!haveSharedFeeds) console.warn(`${who}: ${SHARED_FEEDS} does not exist: the real-feed tests are skipped`);
}

export const sharedFeed = (path: string): string => readFileSync(SHARED_FEEDS + path, 'utf8');
export const sharedFeedBytes = (path: string): Buffer => readFileSync(SHARED_FEEDS + path);
export const fixture = (name: string): string => readFileSync(new URL(`../fixtures/feeds/${name}`, import.meta.url), 'utf8');

/** The 21-domain core set of 3CX-CAMPAIGN.md §2, sorted. */
export const CORE_21: readonly string[] = [
  'akamaicontainer.com',
  'akamaitechcloudservices.com',
  'azuredeploystore.com',
  'azureonlinecloud.com',
  'azureonlinestorage.com',
  'dunamistrd.com',
  'glcloudservice.com',
  'journalide.org',
  'msedgepackageinfo.com',
  'msstorageazure.com',
  'msstorageboxes.com',
  'officeaddons.com',
  'officestoragebox.com',
  'pbxcloudeservices.com',
  'pbxphonenetwork.com',
  'pbxsources.com',
  'qwepoi123098.com',
  'sbmsa.wiki',
  'sourceslabs.com',
  'visualstudiofactory.com',
  'zacharryblogs.com',
];
