// Reversed-label suffix trie: "cdn.msstorageazure.com" is walked com → msstorageazure → cdn.
// Each node holds, per kind (block/allow), a rule for the name itself and a rule for names
// below it; a subtree rule fills both. Precedence, documented in README "Lists":
//   1. an $important allow, 2. an $important block (most specific first),
//   3. otherwise the most specific rule; on the same name an allow beats a block.
// Rules past their expiry do not match.
import type { RuleMatch } from './rule.js';

class Node {
  children: Map<string, Node> | null = null;
  blockSelf: RuleMatch | null = null;
  blockBelow: RuleMatch | null = null;
  allowSelf: RuleMatch | null = null;
  allowBelow: RuleMatch | null = null;
}

type Slot = 'blockSelf' | 'blockBelow' | 'allowSelf' | 'allowBelow';

export class DomainTrie {
  private readonly root = new Node();
  private count = 0;

  /** Distinct rules stored (a duplicate of an existing rule does not count). */
  get size(): number {
    return this.count;
  }

  /**
   * Adds a rule. When a slot is taken the first rule stays, unless the new one is $important
   * and the old one is not, or the old one expires and the new one does not.
   */
  add(rule: RuleMatch): void {
    let node = this.root;
    if (rule.rule !== '') {
      const labels = rule.rule.split('.');
      for (let i = labels.length - 1; i >= 0; i--) {
        const label = labels[i]!;
        node.children ??= new Map();
        let child = node.children.get(label);
        if (child === undefined) {
          child = new Node();
          node.children.set(label, child);
        }
        node = child;
      }
    }
    const block = rule.kind === 'block';
    let stored = false;
    if (rule.match !== 'below') stored = put(node, block ? 'blockSelf' : 'allowSelf', rule) || stored;
    if (rule.match !== 'exact') stored = put(node, block ? 'blockBelow' : 'allowBelow', rule) || stored;
    if (stored) this.count++;
  }

  /** The rule deciding `name` (lower case, no trailing dot), or null when none applies. */
  match(name: string, now: number = Date.now()): RuleMatch | null {
    let node = this.root;
    let best: RuleMatch | null = null;
    let importantBlock: RuleMatch | null = null;
    let end = name.length;
    for (;;) {
      const exact = end === 0; // the whole name is consumed: this node is the name itself
      const allow = live(exact ? node.allowSelf : node.allowBelow, now);
      if (allow !== null && allow.important) return allow;
      const block = live(exact ? node.blockSelf : node.blockBelow, now);
      if (allow !== null) best = allow;
      else if (block !== null) best = block;
      if (block !== null && block.important) importantBlock = block;
      if (end === 0) break;
      const children = node.children;
      if (children === null) break;
      const dot = name.lastIndexOf('.', end - 1);
      const child = children.get(name.substring(dot + 1, end));
      if (child === undefined) break;
      node = child;
      end = dot < 0 ? 0 : dot;
    }
    return importantBlock ?? best;
  }
}

function put(node: Node, slot: Slot, rule: RuleMatch): boolean {
  const old = node[slot];
  if (old === null) {
    node[slot] = rule;
    return true;
  }
  if ((rule.important && !old.important) || (old.expiresAt !== 0 && rule.expiresAt === 0)) node[slot] = rule;
  return false;
}

function live(r: RuleMatch | null, now: number): RuleMatch | null {
  return r !== null && (r.expiresAt === 0 || r.expiresAt > now) ? r : null;
}
