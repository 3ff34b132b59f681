/**
 * One embedded database, one process. PGlite is a single-user PostgreSQL: two processes on one
 * data directory corrupt each other's view of it (the second `serve` spun at 100 % CPU; a CLI
 * `admin token create` beside a running service wrote a token whose audit entry later vanished).
 * So `serve` and every CLI command that opens `<data>/pglite` first take `<data>/pglite.lock`.
 *
 * The lock is a file created with O_EXCL holding the owner's PID, the start time of that PID
 * (Linux `/proc/<pid>/stat` field 22, so a reused PID is not mistaken for the owner) and the host
 * name. A lock whose owner is gone (killed, crashed) is stale and taken over; the takeover runs
 * under a second O_EXCL file so that two starters cannot both remove it and both win. Node has no
 * flock(2); this is what a PID file gives, with the PID-reuse and takeover races closed.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { KeybrokerError } from '../errors.js'

export interface DataDirLock {
  readonly path: string
  /** Removes the lock if it is still ours. Safe to call more than once. */
  release(): Promise<void>
}

interface Owner {
  readonly pid: number
  readonly startTime: string
  readonly host: string
}

/** `/proc/<pid>/stat` field 22 (start time in clock ticks since boot), or '' off Linux. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19] ?? ''
  } catch {
    return process.platform === 'linux' ? undefined : ''
  }
}

function isAlive(owner: Owner): boolean {
  // Another machine's (or container's) PID cannot be checked here: assume it runs.
  if (owner.host !== hostname()) return true
  try {
    process.kill(owner.pid, 0)
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'EPERM') return true
    return false
  }
  const startTime = processStartTime(owner.pid)
  // Gone between the two checks, or the PID now belongs to a younger process.
  if (startTime === undefined) return false
  return owner.startTime === '' || startTime === '' || startTime === owner.startTime
}

function parseOwner(text: string): Owner | undefined {
  const [pid, startTime, host] = text.split('\n')
  const n = Number(pid)
  if (!Number.isSafeInteger(n) || n <= 0 || startTime === undefined || host === undefined || host === '') return undefined
  return { pid: n, startTime, host }
}

async function readOwner(path: string): Promise<{ text: string; owner: Owner | undefined } | undefined> {
  try {
    const text = await readFile(path, 'utf8')
    return { text, owner: parseOwner(text) }
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return undefined
    throw err
  }
}

async function createExclusive(path: string, text: string): Promise<boolean> {
  try {
    const handle = await open(path, 'wx', 0o600)
    try {
      await handle.writeFile(text)
      await handle.sync()
    } finally {
      await handle.close()
    }
    return true
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'EEXIST') return false
    throw err
  }
}

function alreadyRunning(pid: number): KeybrokerError {
  return new KeybrokerError('conflict', `keybroker is already running on this data directory (pid ${pid})`)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Takes the lock of PGlite data directory `dataDir` (`<dataDir>.lock`), taking over a stale one.
 *
 * @throws KeybrokerError `conflict` "keybroker is already running on this data directory (pid N)"
 *   when a live process holds it; `not-ready` when the lock file cannot be written.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = `${dataDir}.lock`
  const mine = `${process.pid}\n${processStartTime(process.pid) ?? ''}\n${hostname()}\n`
  const deadline = Date.now() + 5_000
  try {
    for (;;) {
      if (await createExclusive(path, mine)) break
      const seen = await readOwner(path)
      if (seen === undefined) continue // released meanwhile: try again
      if (seen.owner !== undefined && isAlive(seen.owner)) throw alreadyRunning(seen.owner.pid)
      // Stale, or not yet written by a starter that created it a moment ago.
      if (seen.owner === undefined && Date.now() < deadline) {
        await sleep(100)
        const again = await readOwner(path)
        if (again?.text !== seen.text) continue
      }
      await takeOver(path, seen.text)
      if (Date.now() > deadline) throw new KeybrokerError('not-ready', `cannot take the data directory lock ${path}`)
    }
  } catch (err) {
    if (err instanceof KeybrokerError) throw err
    throw new KeybrokerError('not-ready', `cannot take the data directory lock ${path}`, { cause: err })
  }
  let released = false
  return {
    path,
    release: async () => {
      if (released) return
      released = true
      const seen = await readOwner(path).catch(() => undefined)
      if (seen?.text === mine) await unlink(path).catch(() => {})
    },
  }
}

/** Removes the stale lock whose content was `staleText`, unless another starter got there first. */
async function takeOver(path: string, staleText: string): Promise<void> {
  const guard = `${path}.takeover`
  if (!(await createExclusive(guard, `${process.pid}\n${processStartTime(process.pid) ?? ''}\n${hostname()}\n`))) {
    // Another starter is taking over; a guard left by a starter killed mid-takeover is stale too.
    const holder = await readOwner(guard)
    if (holder?.owner !== undefined && !isAlive(holder.owner)) {
      const aside = `${guard}.${randomBytes(6).toString('hex')}`
      await rename(guard, aside).then(() => unlink(aside)).catch(() => {})
    } else {
      await sleep(50)
    }
    return
  }
  try {
    const current = await readOwner(path)
    if (current?.text === staleText) await unlink(path)
  } finally {
    await unlink(guard).catch(() => {})
  }
}
