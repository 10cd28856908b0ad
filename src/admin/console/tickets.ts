// Short-lived, single-use tickets for the console's live query stream. A browser's EventSource
// cannot send an Authorization header, and the token must never travel in a URL or a cookie, so
// the page trades its bearer token for a ticket (POST /api/console/ticket, token required like
// every POST) and opens GET /api/console/stream?ticket=… with it.
//
// A ticket is `v1.<expiry ms>.<nonce>.<HMAC-SHA256 of the rest>` under a key drawn at random
// when the admin listener starts: nothing is stored per ticket until it is redeemed, a ticket
// from before a restart is worthless, and one seen in a log is spent (single use) or expired
// (60 s) by the time anyone reads it.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const TICKET_TTL_MS = 60_000;

export interface IssuedTicket {
  ticket: string;
  /** Epoch ms after which it is refused. */
  expiresAt: number;
}

export class Tickets {
  private readonly key = randomBytes(32);
  /** Nonces redeemed and not yet expired (after expiry the MAC check refuses them anyway). */
  private readonly spent = new Map<string, number>();

  constructor(
    private readonly ttlMs = TICKET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  issue(): IssuedTicket {
    const expiresAt = this.now() + this.ttlMs;
    const body = `v1.${expiresAt}.${randomBytes(12).toString('base64url')}`;
    return { ticket: `${body}.${this.mac(body)}`, expiresAt };
  }

  /** null when the ticket is good (it is spent from now on); otherwise why it is refused. */
  redeem(ticket: string): string | null {
    const parts = ticket.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1' || !/^\d{1,15}$/.test(parts[1]!)) return 'the ticket is malformed';
    const body = parts.slice(0, 3).join('.');
    const given = Buffer.from(parts[3]!, 'base64url');
    const want = Buffer.from(this.mac(body), 'base64url');
    if (given.length !== want.length || !timingSafeEqual(given, want)) return 'the ticket was not issued by this c2dns (or c2dns restarted since)';
    const now = this.now();
    const expiresAt = Number(parts[1]);
    if (expiresAt <= now) return 'the ticket has expired: get a new one with POST /api/console/ticket';
    this.prune(now);
    if (this.spent.has(parts[2]!)) return 'the ticket was already used: get a new one with POST /api/console/ticket';
    this.spent.set(parts[2]!, expiresAt);
    return null;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }

  private prune(now: number): void {
    for (const [nonce, exp] of this.spent) if (exp <= now) this.spent.delete(nonce);
  }
}
