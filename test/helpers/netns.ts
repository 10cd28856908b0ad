// LAN hosts for tests that need a real MAC address: each host is a network namespace joined to
// the test's namespace by a veth pair (its own /30, a MAC we choose), so a forwarder listening on
// the host side sees the host's IP and finds its MAC in the neighbour table, as a router would.
// Needs root and iproute2; canUseNetns() says whether this machine allows it. Names and
// addresses derive from the process id so parallel test runs do not collide; remove() deletes
// everything it made.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LanHost {
  /** The namespace the host lives in. */
  ns: string;
  /** The host's address, inside its namespace. */
  address: string;
  /** The test side of its link (where a forwarder listens for it). */
  gateway: string;
  mac: string;
  /** Runs a command inside the host's namespace (asynchronously: an in-process server must keep answering meanwhile). */
  exec(cmd: string, args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
}

export interface Lan {
  hosts: LanHost[];
  remove(): void;
}

/** Whether namespaces and veth pairs can be made here (root, iproute2, no sandbox forbidding it); the reason if not. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = `c2p${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `ip netns does not work here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: 'pipe' });
};

/** `macs.length` hosts, each in its own namespace with the MAC given. */
export function createLan(macs: string[]): Lan {
  const tag = process.pid % 100_000;
  // 10.231.0.0/16 in /30 links: 8 addresses per run (two links), chosen by pid.
  const block = (tag % 8000) * 8;
  const made: { ns: string; veth: string }[] = [];
  const remove = (): void => {
    for (const m of made) {
      try {
        ip('link', 'del', m.veth);
      } catch {
        // gone with its namespace
      }
      try {
        ip('netns', 'del', m.ns);
      } catch {
        // already gone
      }
    }
    made.length = 0;
  };
  try {
    const hosts = macs.map((mac, i): LanHost => {
      const ns = `c2h${tag}${String.fromCharCode(97 + i)}`;
      const veth = `c2v${tag}${String.fromCharCode(97 + i)}`;
      const peer = `${veth}p`;
      const base = block + i * 4;
      const addr = (n: number): string => `10.231.${(base + n) >> 8}.${(base + n) & 255}`;
      ip('netns', 'add', ns);
      made.push({ ns, veth });
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', peer, 'netns', ns);
      ip('addr', 'add', `${addr(1)}/30`, 'dev', veth);
      ip('link', 'set', veth, 'up');
      ip('-n', ns, 'link', 'set', peer, 'address', mac);
      ip('-n', ns, 'addr', 'add', `${addr(2)}/30`, 'dev', peer);
      ip('-n', ns, 'link', 'set', peer, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      return {
        ns,
        address: addr(2),
        gateway: addr(1),
        mac,
        exec: async (cmd, args, timeoutMs = 10_000) => run('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: timeoutMs }),
      };
    });
    return { hosts, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
