// The contract between a spool and the thing it delivers to.
import type { SecurityEvent } from '../security-events.js';

export interface AlertSink {
  /** Stable name: the spool directory and log lines use it. Never contains a secret. */
  readonly name: string;
  readonly type: string;
  /**
   * Delivers one event. Resolves only once the receiver has it (as far as the transport can
   * tell); rejects on any failure, and the spool retries. Must give up within its own timeout.
   */
  send(event: SecurityEvent): Promise<void>;
  close(): Promise<void>;
}

/** The logging the alert path needs; c2dns's pino OpLogger fits. */
export interface AlertLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
