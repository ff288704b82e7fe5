import { randomBytes } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { UserError } from '../util/errors';

/** File-system errors that the user can fix, in words; anything else is a bug and keeps its stack. */
const WRITE_ERRORS: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'a parent path is not a directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
};

/**
 * Writes `data` to `file` so that readers see either the old file or the complete new one, never a
 * partial write (a crash mid-checkpoint must not destroy the previous checkpoint): the bytes go to a
 * temporary file in the same directory (rename is only atomic within one file system), are fsynced,
 * and the temporary file is renamed over `file`. On failure the temporary file is removed.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, 'wx');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, file);
  } catch (e) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    const reason = WRITE_ERRORS[(e as NodeJS.ErrnoException).code ?? ''];
    if (reason) throw new UserError(`${file}: cannot write: ${reason}`);
    throw e;
  }
}
