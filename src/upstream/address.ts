// "ADDR[:PORT]" / "[V6]:PORT" parsing shared by listen and upstream settings.
import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
  family: 4 | 6;
}

/** Parses an address with optional port; returns an error string on failure. Port 0 only with `allowZero` (listen). */
export function parseHostPort(s: string, defaultPort: number, allowZero = false): HostPort | string {
  let host = s;
  let portStr: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    portStr = bracket[2];
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      host = s.slice(0, i);
      portStr = s.slice(i + 1);
    }
  }
  const family = isIP(host);
  if (family === 0) return 'not an IP address with an optional port';
  const port = portStr === undefined ? defaultPort : Number(portStr);
  if (!/^\d+$/.test(portStr ?? String(defaultPort)) || port < (allowZero ? 0 : 1) || port > 65535) {
    return allowZero ? 'the port must be 0-65535' : 'the port must be 1-65535';
  }
  // Canonical text form, so it compares equal to the address the socket layer reports.
  if (family === 6) host = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  return { host, port, family: family as 4 | 6 };
}

export function formatHostPort(h: HostPort): string {
  return h.family === 6 ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}
