import { randomBytes } from 'node:crypto'
import { chmod, link, mkdir, open, readFile, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { KeybrokerError } from '../errors.js'

/** Key files are readable by their owner only. */
export const KEY_FILE_MODE = 0o600
const KEY_DIR_MODE = 0o700

/**
 * Reads a key file, or returns `undefined` if it does not exist.
 * @throws KeybrokerError `internal` for any other I/O failure (detail names the file, never its contents).
 */
export async function readKeyFile(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (cause) {
    if (isErrno(cause, 'ENOENT')) return undefined
    throw new KeybrokerError('internal', `cannot read key file ${path}`, { cause })
  }
}

/**
 * Creates `path` with `contents` and mode 0600 unless it already exists, atomically: the bytes
 * go to a temporary file in the same directory, are fsync'ed, then hard-linked to `path`.
 * Unlike `rename`, `link` fails when the target exists, so two replicas starting at once on a
 * shared directory cannot both "win" with different keys; the loser reads the winner's file.
 * The directory is created with mode 0700 if missing.
 * @returns `true` if this call created the file, `false` if it already existed.
 * @throws KeybrokerError `internal` for I/O failures (e.g. a file system without hard links).
 */
export async function createKeyFileExclusive(path: string, contents: Uint8Array): Promise<boolean> {
  const dir = dirname(path)
  const temp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`)
  try {
    await mkdir(dir, { recursive: true, mode: KEY_DIR_MODE })
    const handle = await open(temp, 'wx', KEY_FILE_MODE)
    try {
      await handle.writeFile(contents)
      await handle.sync()
    } finally {
      await handle.close()
    }
    // umask can only remove bits, but set the mode explicitly so the result never depends on it.
    await chmod(temp, KEY_FILE_MODE)
    try {
      await link(temp, path)
    } catch (cause) {
      if (isErrno(cause, 'EEXIST')) return false
      throw cause
    }
    await syncDirectory(dir)
    return true
  } catch (cause) {
    throw new KeybrokerError('internal', `cannot create key file ${path}`, { cause })
  } finally {
    await unlink(temp).catch((cause: unknown) => {
      // The temp file may never have been created; any other failure leaves a stray file, which
      // is worth an error because it holds key material.
      if (!isErrno(cause, 'ENOENT')) throw new KeybrokerError('internal', `cannot remove ${temp}`, { cause })
    })
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code
}
