// Whether a normalised name is itself a public suffix (`wiki`, `co.uk`, `github.io`), as tldts
// says with private domains allowed, without asking tldts for nearly every name of a list.
//
// A name of two or more labels can only be a public suffix if the PSL has a rule at least two
// labels deep under its last label whose second label is the name's own second-to-last label (or a
// `*` there): the rule walk cannot get past the last label otherwise. Exceptions (`!www.ck`) only
// make a suffix shorter, never the whole name. So the pairs "label.tld" that the PSL has a node
// for (a few thousand), and the TLDs with a `*` below them, rule out ~all names of a list with one
// Set probe; the rest (single labels, names under such a pair) still get tldts's exact answer.
// A 1M-name list: ~0.2 s of tldts at load otherwise.
import { createRequire } from 'node:module';
import { getPublicSuffix } from 'tldts';

// The names asked are normalised (lower-case LDH labels, no trailing dot, never an address):
// tldts need not extract a host, validate it or look for an IP. The answer is the default options'.
const PSL_OPTIONS = { allowPrivateDomains: true, extractHostname: false, detectIp: false, validateHostname: false, mixedInputs: false } as const;

/** The arrays tldts's own lookup walks (tldts/src/suffix-trie.ts); tldts is pinned in package.json. */
interface PslTrie {
  readonly nodeFlags: Uint8Array;
  readonly edgeStart: Uint16Array;
  readonly edgeLength: Uint8Array;
  readonly edgeChild: Uint16Array;
  readonly labelText: string;
  readonly rulesRoot: number;
}

/** tldts's trie with each edge's label text, or null when this tldts is laid out otherwise. */
interface Rules {
  readonly t: PslTrie;
  label(edge: number): string;
  /** The edges below a node. */
  edges(node: number): number[];
}

function loadRules(): Rules | null {
  let t: PslTrie;
  try {
    t = createRequire(import.meta.url)('tldts/dist/cjs/src/data/trie.js') as PslTrie;
  } catch {
    return null;
  }
  if (typeof t.labelText !== 'string' || !(t.edgeStart instanceof Uint16Array) || !(t.edgeLength instanceof Uint8Array) || typeof t.rulesRoot !== 'number') return null;
  // Edge labels are stored back to back in edge order: an edge's text starts where the previous one's ends.
  const offsets = new Uint32Array(t.edgeLength.length + 1);
  for (let e = 0; e < t.edgeLength.length; e++) offsets[e + 1] = offsets[e]! + t.edgeLength[e]!;
  return {
    t,
    label: (e) => t.labelText.slice(offsets[e], offsets[e + 1]),
    edges: (node) => {
      const out: number[] = [];
      for (let e = t.edgeStart[node]!; e < t.edgeStart[node + 1]!; e++) out.push(e);
      return out;
    },
  };
}

/**
 * Strings looked up by a range of a name without slicing it (a slice per name is most of the
 * cost: an allocation and a hash of a fresh string). Hashes run from the end of the name back.
 */
class SuffixSet {
  private readonly keys: string[] = [];
  private slots = new Int32Array(16);

  add(s: string): void {
    if (this.has(s, 0, hashBack(s, 0, s.length))) return;
    this.keys.push(s);
    if (this.keys.length * 2 > this.slots.length) {
      this.slots = new Int32Array(this.slots.length * 2);
      for (let i = 0; i < this.keys.length; i++) this.place(i);
    } else this.place(this.keys.length - 1);
  }

  /** Whether name[from, name.length) is in the set; `h` = hashBack(name, from, name.length). */
  has(name: string, from: number, h: number): boolean {
    const mask = this.slots.length - 1;
    const len = name.length - from;
    for (let k = h & mask; ; k = (k + 1) & mask) {
      const v = this.slots[k]!;
      if (v === 0) return false;
      const key = this.keys[v - 1]!;
      if (key.length === len && name.startsWith(key, from)) return true;
    }
  }

  private place(i: number): void {
    const key = this.keys[i]!;
    const mask = this.slots.length - 1;
    let k = hashBack(key, 0, key.length) & mask;
    while (this.slots[k] !== 0) k = (k + 1) & mask;
    this.slots[k] = i + 1;
  }
}

/** FNV-1a over s[from, to) from the last character back: the hash of a suffix extends that of a shorter one. */
function hashBack(s: string, from: number, to: number, h = 0x811c9dc5 | 0): number {
  for (let i = to - 1; i >= from; i--) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/** "label.tld" for every second-level node of the rules, and the TLDs with a `*` below them. */
interface Shortcut {
  readonly pairs: SuffixSet;
  readonly wildTlds: SuffixSet;
}

/** What rules names out, as text: the pairs and the wildcard TLDs. */
export interface DeepSuffixes {
  /** "label.tld" for every second-level node of the PSL's rules. */
  readonly pairs: readonly string[];
  /** TLDs with a `*` rule below them. */
  readonly wildTlds: readonly string[];
}

let deep: DeepSuffixes | null | undefined;

/**
 * A name of 2+ labels whose last two labels are none of `pairs` and whose TLD is none of
 * `wildTlds` is no public suffix. null: nothing can be ruled out (another tldts layout).
 */
export function deepSuffixes(): DeepSuffixes | null {
  if (deep !== undefined) return deep;
  deep = null;
  const r = loadRules();
  if (r === null) return null;
  const pairs: string[] = [];
  const wildTlds: string[] = [];
  for (const e of r.edges(r.t.rulesRoot)) {
    const tld = r.label(e);
    if (tld === '*') return null; // a rule `*.x` at the top: any TLD may go deeper
    for (const c of r.edges(r.t.edgeChild[e]!)) {
      const second = r.label(c);
      if (second === '*') wildTlds.push(tld);
      else pairs.push(`${second}.${tld}`);
    }
  }
  return (deep = { pairs, wildTlds });
}

function loadShortcut(): Shortcut | null {
  const d = deepSuffixes();
  if (d === null) return null;
  const pairs = new SuffixSet();
  const wildTlds = new SuffixSet();
  for (const p of d.pairs) pairs.add(p);
  for (const t of d.wildTlds) wildTlds.add(t);
  return { pairs, wildTlds };
}

let shortcut: Shortcut | null | undefined;

/**
 * false when the PSL has no node for the name's last two labels (nor a `*` under its last label):
 * then it is no public suffix. null: no answer (a single label, an empty last label).
 * One walk back over the last two labels (String#lastIndexOf is a runtime call, ~400 instructions).
 */
function mayBeDeep(sc: Shortcut, name: string): boolean | null {
  const len = name.length;
  let h = 0x811c9dc5 | 0;
  let last = -1;
  for (let i = len - 1; i >= 0; i--) {
    const c = name.charCodeAt(i);
    if (c === 46) {
      if (last < 0) {
        if (i === len - 1) return null;
        if (sc.wildTlds.has(name, i + 1, h)) return true;
        last = i;
      } else return sc.pairs.has(name, i + 1, h);
    }
    h = Math.imul(h ^ c, 0x01000193);
  }
  return last <= 0 ? null : sc.pairs.has(name, 0, h);
}

/** Whether `name` (normalised) is a public suffix: getPublicSuffix(name) === name with private domains allowed. */
export function isPublicSuffix(name: string): boolean {
  if (shortcut === undefined) shortcut = loadShortcut();
  if (shortcut !== null && mayBeDeep(shortcut, name) === false) return false;
  return getPublicSuffix(name, PSL_OPTIONS) === name;
}

/** Every node of the PSL's rules as a name (a `*` label as "wildcard"), for tests that compare with tldts; empty when unreadable. */
export function pslRuleNames(): string[] {
  const r = loadRules();
  const out: string[] = [];
  const walk = (node: number, suffix: string): void => {
    for (const e of r!.edges(node)) {
      const l = r!.label(e) === '*' ? 'wildcard' : r!.label(e);
      const name = suffix === '' ? l : `${l}.${suffix}`;
      out.push(name);
      walk(r!.t.edgeChild[e]!, name);
    }
  };
  if (r !== null) walk(r.t.rulesRoot, '');
  return out;
}
