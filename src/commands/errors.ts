// Ordinary file errors (a missing input, an unreadable key, a key file that exists already) as one
// line for the command line, instead of a stack trace: they are the operator's to fix, not bugs.

const VERB: Record<string, string> = { open: 'open', read: 'read', write: 'write', mkdir: 'create', rename: 'rename', unlink: 'remove', scandir: 'list', stat: 'read', lstat: 'read', copyfile: 'copy' };

const REASON: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EMFILE: 'too many open files',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'file name too long',
};

/** "cannot open feed.txt: no such file or directory" for a file-system error; null for anything else. */
export function fileErrorMessage(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException | null;
  if (e === null || typeof e !== 'object' || typeof e.code !== 'string' || typeof e.path !== 'string' || typeof e.syscall !== 'string') return null;
  if (e.code === 'EEXIST') return `${e.path} already exists (not overwritten)`;
  const reason = REASON[e.code] ?? e.message.replace(/, \w+ '.*'$/s, '');
  return `cannot ${VERB[e.syscall] ?? e.syscall} ${e.path}: ${reason}`;
}
