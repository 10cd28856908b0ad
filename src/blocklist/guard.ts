// The shared-infrastructure guard: a feed may list a public suffix (the whole of `wiki` or
// `github.io`) or a platform the attack abused (raw.githubusercontent.com, od.lk); blocking
// those would take down far more than the attacker. Such entries are refused and reported.
import { DOT_END, DOT_HASH, scanName, scanned } from './domain.js';
import { hashFinish, hashRange, HASH_B, HASH_POW, NameTable } from './names.js';
import { deepSuffixes, isPublicSuffix } from './public-suffix.js';

/**
 * Platforms and vendors that must never be blocked by name, nor any name under them, nor a
 * parent of them. Sources: the 3CX campaign's abused hosts (GitHub raw content, od.lk, the
 * vendor itself) and the big CDNs/clouds whose names look-alike C2 domains imitate.
 */
export const DEFAULT_PROTECTED = [
  '3cx.com',
  'github.com',
  'githubusercontent.com',
  'github.io',
  'od.lk',
  'microsoft.com',
  'windows.com',
  'windowsupdate.com',
  'windows.net',
  'office.com',
  'office.net',
  'office365.com',
  'live.com',
  'azure.com',
  'azureedge.net',
  'azurefd.net',
  'cloudapp.net',
  'akamai.net',
  'akamaiedge.net',
  'akamaihd.net',
  'akamaized.net',
  'edgekey.net',
  'edgesuite.net',
  'cloudflare.com',
  'cloudflare.net',
  'cloudfront.net',
  'amazonaws.com',
  'amazon.com',
  'google.com',
  'googleapis.com',
  'gstatic.com',
  'googleusercontent.com',
  'apple.com',
  'icloud.com',
  'fastly.net',
  'dropbox.com',
  'dropboxusercontent.com',
  'proton.me',
  'protonmail.com',
];

export interface GuardRefusal {
  kind: 'public-suffix' | 'protected';
  /** For 'protected': the protected name that the entry equals, contains or falls under. */
  protectedName?: string;
  reason: string;
}

export class Guard {
  /** Protected names, probed once per suffix of a name (the name, then after each of its dots). */
  private readonly exact = new NameTable();
  /** One bit per protected name's hash (65,536 bits): most suffixes are ruled out without a probe. */
  private readonly filter = new Int32Array(2048);
  /** Proper parents of protected names, mapped to the protected name (O(1) per entry). */
  private readonly parents = new Map<string, string>();
  /** The same one-bit-per-hash filter for the parents. */
  private readonly parentFilter = new Int32Array(2048);

  /**
   * The PSL's "label.tld" nodes and wildcard TLDs (public-suffix.ts), hashed as the protected
   * names are: a scanned name that hits none of them is no public suffix, found from the hashes
   * scanName() left (tldts or a string walk per name was most of the guard's cost). null: ask isPublicSuffix.
   */
  private readonly deep: NameTable | null;
  private readonly deepFilter = new Int32Array(2048);

  /** `protectedNames`: as given (a worker thread builds the same guard from them). */
  constructor(readonly protectedNames: readonly string[]) {
    const d = deepSuffixes();
    this.deep = d === null ? null : new NameTable();
    if (d !== null) {
      for (const n of [...d.pairs, ...d.wildTlds]) {
        if (/[^\x00-\xff]/.test(n)) continue; // a U-label: never equal to a normalised (A-label) name
        this.deep!.intern(n, 0, n.length, 0);
        const h = hashRange(n, 0, n.length);
        this.deepFilter[(h >>> 5) & 2047] |= 1 << (h & 31);
      }
    }
    for (const raw of protectedNames) {
      const n = raw.toLowerCase().replace(/\.$/, '');
      // A name with characters beyond U+00FF (or longer than a DNS name) can never equal a
      // normalised name: nothing to store.
      if (n.length <= 253 && !/[^\x00-\xff]/.test(n)) {
        this.exact.intern(n, 0, n.length, 0);
        const h = hashRange(n, 0, n.length);
        this.filter[(h >>> 5) & 2047] |= 1 << (h & 31);
      }
      for (let i = n.indexOf('.'); i >= 0; i = n.indexOf('.', i + 1)) {
        const parent = n.slice(i + 1);
        if (!this.parents.has(parent)) this.parents.set(parent, n);
        const h = hashRange(parent, 0, parent.length);
        this.parentFilter[(h >>> 5) & 2047] |= 1 << (h & 31);
      }
    }
  }

  /** Why `name` must not be blocked, or null when blocking it is fine. */
  check(name: string): GuardRefusal | null {
    const scannable = name.length <= 253 && scanName(name, 0, name.length) === name.length;
    return this.refusal(name, isPublicSuffix(name), scannable ? this.protectedSuffix(name) : this.protectedSuffixSlow(name), true);
  }

  /** check() for a name that scanName() has just scanned to its end (its hashes are in `scanned`). */
  checkScanned(name: string): GuardRefusal | null {
    const h = scanned.hash;
    const ps = this.mayBePublicSuffix(name) && isPublicSuffix(name);
    return this.refusal(name, ps, this.protectedSuffix(name), (this.parentFilter[(h >>> 5) & 2047]! & (1 << (h & 31))) !== 0);
  }

  /** false when the scanned name's last two labels (or its TLD) are no PSL node that a public suffix of 2+ labels needs. */
  private mayBePublicSuffix(name: string): boolean {
    const dots = scanned.dots;
    if (this.deep === null || dots === 0 || dots > 127) return true;
    const len = name.length;
    const raw = scanned.raw;
    // The TLD (name[DOT_END[dots - 1], len)) with a `*` below it, then the last two labels.
    let j = DOT_END[dots - 1]!;
    if (this.isDeep(hashFinish((raw - Math.imul(DOT_HASH[dots - 1]!, HASH_POW[len - j]!)) | 0), name, j)) return true;
    j = dots === 1 ? 0 : DOT_END[dots - 2]!;
    return this.isDeep(j === 0 ? hashFinish(raw) : hashFinish((raw - Math.imul(DOT_HASH[dots - 2]!, HASH_POW[len - j]!)) | 0), name, j);
  }

  private isDeep(f: number, name: string, from: number): boolean {
    return (this.deepFilter[(f >>> 5) & 2047]! & (1 << (f & 31))) !== 0 && this.deep!.findHashed(f, name, from, name.length) >= 0;
  }

  /**
   * Where the longest protected suffix of `name` (the name itself, or the part after one of its
   * dots) starts, or -1; from the hashes scanName() left, one probe per label.
   */
  private protectedSuffix(name: string): number {
    const len = name.length;
    const raw = scanned.raw;
    const filter = this.filter;
    let f = hashFinish(raw);
    if ((filter[(f >>> 5) & 2047]! & (1 << (f & 31))) !== 0 && this.exact.findHashed(f, name, 0, len) >= 0) return 0;
    for (let d = 0; d < scanned.dots; d++) {
      const j = DOT_END[d]!;
      f = hashFinish((raw - Math.imul(DOT_HASH[d]!, HASH_POW[len - j]!)) | 0);
      if ((filter[(f >>> 5) & 2047]! & (1 << (f & 31))) !== 0 && this.exact.findHashed(f, name, j, len) >= 0) return j;
    }
    return -1;
  }

  /** protectedSuffix() for a name scanName() cannot read to its end: hash every suffix. */
  private protectedSuffixSlow(name: string): number {
    const len = name.length;
    let hit = -1;
    let h = 0;
    let pow = 1;
    for (let i = len - 1; i >= 0; i--) {
      const c = name.charCodeAt(i);
      if (c === 46 && this.exact.findHashed(hashFinish(h), name, i + 1, len) >= 0) hit = i + 1;
      h = (h + Math.imul(c, pow)) | 0;
      pow = Math.imul(pow, HASH_B);
    }
    if (this.exact.findHashed(hashFinish(h), name, 0, len) >= 0) hit = 0;
    return hit;
  }

  /** `parent`: whether the name may be a parent of a protected name (false: it certainly is not). */
  private refusal(name: string, publicSuffix: boolean, hit: number, parent: boolean): GuardRefusal | null {
    if (publicSuffix) {
      return { kind: 'public-suffix', reason: `"${name}" is a public suffix: blocking it would block every domain registered under it` };
    }
    // The name itself or one of its parents is protected: it is that platform or inside it.
    if (hit >= 0) {
      const n = hit === 0 ? name : name.slice(hit);
      return {
        kind: 'protected',
        protectedName: n,
        reason: n === name ? `"${name}" is protected shared infrastructure` : `"${name}" is under protected shared infrastructure "${n}"`,
      };
    }
    // A parent of a protected name: blocking it as a subtree would block the platform.
    const p = parent ? this.parents.get(name) : undefined;
    if (p !== undefined) return { kind: 'protected', protectedName: p, reason: `blocking "${name}" would block protected shared infrastructure "${p}"` };
    return null;
  }
}
