// The shared-infrastructure guard: a feed may list a public suffix (the whole of `wiki` or
// `github.io`) or a platform the attack abused (raw.githubusercontent.com, od.lk); blocking
// those would take down far more than the attacker. Such entries are refused and reported.
import { getPublicSuffix } from 'tldts';

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
  private readonly exact = new Set<string>();
  /** Proper parents of protected names, mapped to the protected name (O(1) per entry). */
  private readonly parents = new Map<string, string>();

  constructor(protectedNames: readonly string[]) {
    for (const raw of protectedNames) {
      const n = raw.toLowerCase().replace(/\.$/, '');
      this.exact.add(n);
      for (let i = n.indexOf('.'); i >= 0; i = n.indexOf('.', i + 1)) {
        const parent = n.slice(i + 1);
        if (!this.parents.has(parent)) this.parents.set(parent, n);
      }
    }
  }

  /** Why `name` must not be blocked, or null when blocking it is fine. */
  check(name: string): GuardRefusal | null {
    if (getPublicSuffix(name, { allowPrivateDomains: true }) === name) {
      return { kind: 'public-suffix', reason: `"${name}" is a public suffix: blocking it would block every domain registered under it` };
    }
    // The name itself or one of its parents is protected: it is that platform or inside it.
    for (let n = name; ; ) {
      if (this.exact.has(n)) {
        return {
          kind: 'protected',
          protectedName: n,
          reason: n === name ? `"${name}" is protected shared infrastructure` : `"${name}" is under protected shared infrastructure "${n}"`,
        };
      }
      const dot = n.indexOf('.');
      if (dot < 0) break;
      n = n.slice(dot + 1);
    }
    // A parent of a protected name: blocking it as a subtree would block the platform.
    const p = this.parents.get(name);
    if (p !== undefined) return { kind: 'protected', protectedName: p, reason: `blocking "${name}" would block protected shared infrastructure "${p}"` };
    return null;
  }
}
