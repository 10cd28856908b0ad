// Crash-safe file replacement for everything c2dns keeps in its state directory: write a temp
// file beside the target (0600, unique name per process and call), optionally fsync it, then
// rename it over the target, so a reader sees the old file or the new one, never half of one.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';

export function writeFileAtomic(target: string, data: Buffer | string, durable: boolean): void {
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  let fd = -1;
  try {
    // 0600: licensed or private threat intel is nobody else's business on a shared host.
    fd = openSync(tmp, 'wx', 0o600);
    writeFileSync(fd, data);
    if (durable) fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, target);
  } catch (err) {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch {
        // Already failing; the original error is the one worth reporting.
      }
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** writeFileAtomic with asynchronous writes: temp file, fsync when `durable`, rename. */
export async function writeFileAtomicAsync(target: string, data: Buffer | string, durable = true): Promise<void> {
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Makes the renames themselves durable. Not possible on every platform (Windows): then skipped. */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // EISDIR/EPERM on platforms that cannot fsync a directory.
  }
}
