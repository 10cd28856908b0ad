// CLI commands that act on a running c2dns through its admin API (the server holds the live
// state): `c2dns quarantine list|release CLIENT`, `c2dns block NAME... --reason R [--expires 1h]`,
// `c2dns unblock NAME`. Mutating calls need the admin token (--token or C2DNS_ADMIN_TOKEN).

export class AdminCallError extends Error {}

export interface AdminTarget {
  baseUrl: string;
  token: string | null;
}

export async function callAdmin(t: AdminTarget, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (t.token !== null) headers.authorization = `Bearer ${t.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${t.baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new AdminCallError(`cannot reach the c2dns admin API at ${t.baseUrl}: ${(err as Error).message} (is c2dns running, with admin.enabled?)`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  if (!res.ok) {
    const detail = typeof parsed === 'object' && parsed !== null ? JSON.stringify(parsed) : text;
    throw new AdminCallError(`${method} ${path}: HTTP ${res.status}: ${detail}`);
  }
  return parsed;
}
