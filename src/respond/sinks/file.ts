// File sink: one JSON line per event, appended. The file is opened per event, so an external
// rotation (logrotate's rename + create) is picked up at once, and the line is flushed to disk
// before the event counts as delivered. Alert rates make the extra open/fsync affordable.
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SecurityEvent } from '../security-events.js';
import type { AlertSink } from './types.js';

export interface FileSinkOptions {
  name: string;
  path: string;
}

export class FileSink implements AlertSink {
  readonly type = 'file';
  readonly name: string;
  readonly path: string;
  private dirReady = false;

  constructor(o: FileSinkOptions) {
    this.name = o.name;
    this.path = o.path;
  }

  async send(event: SecurityEvent): Promise<void> {
    if (!this.dirReady) {
      await mkdir(dirname(this.path), { recursive: true });
      this.dirReady = true;
    }
    // 0600: alerts name internal hosts; the mode only applies when the file is created.
    const fh = await open(this.path, 'a', 0o600);
    try {
      await fh.appendFile(`${JSON.stringify(event)}\n`);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {
    // Nothing held open between events.
  }
}
