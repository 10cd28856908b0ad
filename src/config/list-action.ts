// The answer action of a list, apart from the schema: the list compiler needs it, also in its
// worker thread, where loading zod and every config section would cost each start ~0.2 s of CPU.
import type { ListConfig } from './schema.js';

/** The answer action a list gives its rules: none for a watch list, which answers normally. */
export function listAction(l: ListConfig): Exclude<ListConfig['action'], 'monitor' | undefined> | null {
  return l.action === undefined || l.action === 'monitor' ? null : l.action;
}
