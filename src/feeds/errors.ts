// Why a feed update was refused. Each failure has one reason from a closed set so the scheduler,
// the status file and `c2dns lists` can act on it and count it; the message is for humans and
// says what was seen and what was expected. Any FeedError means: keep the last good copy.

export type FeedFailure =
  /** Connection refused/reset, DNS failure, TLS failure: nothing usable arrived. */
  | 'network'
  /** The whole fetch (connect, redirects, headers, body) overran its time budget. */
  | 'timeout'
  /** The server answered something other than 2xx (or 304 to a conditional request). */
  | 'http-status'
  /** Too many redirects, a loop, a downgrade from https to http, or an unusable Location. */
  | 'redirect'
  /** The body (on the wire or once decompressed) is bigger than the configured cap. */
  | 'too-large'
  /** Compressed data that cannot be, or is not allowed to be, decompressed. */
  | 'decompression'
  /** A web page (error page, captive portal, challenge page) instead of a list. */
  | 'html'
  /** No content, or only comments and blank lines. */
  | 'empty'
  /** Mostly control bytes/NULs: an executable, image or archive, not text. */
  | 'binary'
  /** Not valid UTF-8 (or UTF-16 with a BOM): decoding would invent characters. */
  | 'encoding'
  /** The transfer or the compressed stream ended before its declared end. */
  | 'truncated'
  /** The body's sha256 is not the pinned one. */
  | 'pin-mismatch'
  /** The detached Ed25519 signature is missing, malformed or does not verify. */
  | 'bad-signature'
  /** The update lost more entries than allowed compared with the last good copy. */
  | 'shrunk'
  /** The update grew more than allowed compared with the last good copy. */
  | 'grew'
  /** The list format could not be parsed as a whole. */
  | 'parse'
  /** A local file could not be read (missing, permissions, not a regular file). */
  | 'io'
  /** The source's settings are unusable (malformed pin or public key, ratio out of range). */
  | 'config'
  /** The caller cancelled the fetch (shutdown). */
  | 'aborted';

// Exhaustive by type: adding a reason above without listing it here does not compile.
const REASONS: Record<FeedFailure, true> = {
  network: true,
  timeout: true,
  'http-status': true,
  redirect: true,
  'too-large': true,
  decompression: true,
  html: true,
  empty: true,
  binary: true,
  encoding: true,
  truncated: true,
  'pin-mismatch': true,
  'bad-signature': true,
  shrunk: true,
  grew: true,
  parse: true,
  io: true,
  config: true,
  aborted: true,
};

export const FEED_FAILURES = Object.keys(REASONS) as readonly FeedFailure[];

/** For reading a reason back from a status file. */
export function isFeedFailure(s: string): s is FeedFailure {
  return Object.hasOwn(REASONS, s);
}

export class FeedError extends Error {
  override readonly name = 'FeedError';

  constructor(
    readonly reason: FeedFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isFeedError(err: unknown): err is FeedError {
  return err instanceof FeedError;
}
