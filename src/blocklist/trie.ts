// Reversed-label suffix trie: "cdn.msstorageazure.com" is walked com → msstorageazure → cdn.
// The deepest rule on the path wins (most specific); on the same name an allow beats a block.
import type { RuleMatch } from './rule.js';

class Node {
  children: Map<string, Node> | null = null;
  block: RuleMatch | null = null;
  allow: RuleMatch | null = null;
}

export class DomainTrie {
  private readonly root = new Node();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds a rule; a second rule of the same kind on the same name keeps the first (its list wins). */
  add(rule: RuleMatch): void {
    let node = this.root;
    const labels = rule.rule === '' ? [] : rule.rule.split('.');
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
    if (rule.kind === 'block') {
      if (node.block === null || (rule.subtree && !node.block.subtree)) {
        if (node.block === null) this.count++;
        node.block = rule;
      }
    } else if (node.allow === null || (rule.subtree && !node.allow.subtree)) {
      if (node.allow === null) this.count++;
      node.allow = rule;
    }
  }

  /** The rule deciding `name` (lower case, no trailing dot), or null when none applies. */
  match(name: string): RuleMatch | null {
    let node = this.root;
    let best = pick(node, name.length === 0);
    let end = name.length;
    while (end > 0) {
      const dot = name.lastIndexOf('.', end - 1);
      const children = node.children;
      if (children === null) break;
      const child = children.get(name.substring(dot + 1, end));
      if (child === undefined) break;
      node = child;
      const m = pick(node, dot < 0);
      if (m !== null) best = m;
      end = dot < 0 ? 0 : dot;
    }
    return best;
  }
}

function pick(node: Node, exact: boolean): RuleMatch | null {
  const a = node.allow;
  if (a !== null && (exact || a.subtree)) return a;
  const b = node.block;
  if (b !== null && (exact || b.subtree)) return b;
  return null;
}
