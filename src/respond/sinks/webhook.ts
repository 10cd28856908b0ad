// Webhook sink: one HTTP POST per event. `json` posts the event itself; `slack` and `teams` post
// what their incoming webhooks accept, with a one-line `text` summary. A 2xx answer is delivery;
// anything else (other status, network error, timeout) is a failure the spool retries.
// Redirects are not followed: a webhook that moved is a configuration problem to see, not to guess.
import http from 'node:http';
import https from 'node:https';
import { CEF_SEVERITY, severityOf, summarize } from '../format.js';
import type { SecurityEvent, Severity } from '../security-events.js';
import type { AlertSink } from './types.js';

export type WebhookFormat = 'json' | 'slack' | 'teams';

export interface WebhookOptions {
  name: string;
  url: string;
  format?: WebhookFormat;
  /** Extra request headers (an Authorization token…); never logged. */
  headers?: Readonly<Record<string, string>>;
  timeoutMs?: number;
}

/** Thrown for a non-2xx answer; `status` lets callers tell client errors from server errors. */
export class WebhookError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

const TEAMS_COLOUR: Readonly<Record<Severity, string>> = { info: '808080', low: '2E86C1', medium: 'F1C40F', high: 'E67E22', critical: 'C0392B' };

/** Slack mrkdwn treats &, < and > as markup: a qname must not turn into a link or mention. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function webhookBody(e: SecurityEvent, format: WebhookFormat): unknown {
  if (format === 'json') return e;
  const sev = severityOf(e);
  const text = `[c2dns ${sev}] ${summarize(e)}`;
  if (format === 'slack') return { text: slackEscape(text) };
  const facts: { name: string; value: string }[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (v === null || v === undefined || typeof v === 'object') continue;
    facts.push({ name: k, value: String(v) });
  }
  return {
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: text.slice(0, 250),
    themeColor: TEAMS_COLOUR[sev],
    title: `c2dns: ${e.type} (severity ${CEF_SEVERITY[sev]}/10)`,
    text,
    sections: [{ facts }],
  };
}

export class WebhookSink implements AlertSink {
  readonly type = 'webhook';
  readonly name: string;
  private readonly url: URL;
  private readonly format: WebhookFormat;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly timeoutMs: number;
  /** Where errors say they went: scheme, host and port only, as Slack/Teams URLs embed a secret in the path. */
  private readonly where: string;

  constructor(o: WebhookOptions) {
    this.name = o.name;
    this.url = new URL(o.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error(`webhook ${o.name}: expected an http:// or https:// URL`);
    this.format = o.format ?? 'json';
    this.headers = o.headers ?? {};
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.where = this.url.origin;
  }

  send(event: SecurityEvent): Promise<void> {
    const body = Buffer.from(JSON.stringify(webhookBody(event, this.format)));
    const mod = this.url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === null) resolve();
        else reject(err);
      };
      const req = mod.request(
        this.url,
        {
          method: 'POST',
          headers: { 'user-agent': 'c2dns', ...this.headers, 'content-type': 'application/json', 'content-length': String(body.length) },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          res.resume(); // drain, so the connection can be reused
          res.on('error', (err) => done(err));
          res.on('end', () => done(status >= 200 && status < 300 ? null : new WebhookError(`webhook ${this.name}: HTTP ${status} from ${this.where}`, status)));
        },
      );
      // One deadline for the whole exchange (connect, send, answer), not an idle timeout.
      const timer = setTimeout(() => {
        const err = new WebhookError(`webhook ${this.name}: no answer from ${this.where} within ${this.timeoutMs} ms`, null);
        req.destroy(err);
        done(err);
      }, this.timeoutMs);
      req.on('error', (err) => done(new WebhookError(`webhook ${this.name}: ${this.where}: ${err.message}`, null)));
      req.end(body);
    });
  }

  async close(): Promise<void> {
    // Nothing held open beyond the shared agent's idle sockets.
  }
}
