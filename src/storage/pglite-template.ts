/**
 * A pre-initialized PGlite data directory, made once at build time (`npm run build` runs
 * scripts/pglite-template.ts) and copied into an empty data directory at its first open.
 *
 * Why: PGlite's first open of an empty directory runs initdb in a second WebAssembly instance
 * inside a third PGlite instance, then unpacks the result as a tarball through its virtual file
 * system, then keybroker applies its migrations: ~2.5 s and ~870 MB peak RSS (three WebAssembly
 * memories) against ~0.3 s and ~400 MB for an existing directory (measured, README "Start-up and
 * memory"). A natively copied template makes the first start an ordinary reopen.
 *
 * What the template holds: exactly what initdb and keybroker's migrations write, nothing else.
 * No key, no token, no audit entry: the KEK, the token keys and the audit key are made by the
 * process that opens the copy, as before. Its name is a digest of everything that decides its
 * bytes (the PGlite version, every migration, this format), so a template made by another PGlite
 * or before a new migration is never used; without a matching template the open runs initdb as
 * before. It is created in a temporary directory and renamed into place, so a template that
 * exists is complete.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { copyFile, chmod, mkdir, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KeybrokerError } from '../errors.js'

/** Bumped when what a template holds, or how it is made, changes. */
const TEMPLATE_FORMAT = 1

/**
 * The package root: the nearest directory above this module that holds `package.json`. Works
 * from `src/storage/` (vitest, tsx) and from `dist/src/storage/` (after `tsc`).
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new KeybrokerError('not-ready', 'package root (package.json) not found above the storage module')
    dir = parent
  }
}

/** Absolute path of the committed drizzle-kit migrations (`<package root>/migrations`). */
export function migrationsFolder(): string {
  const folder = join(packageRoot(), 'migrations')
  if (!existsSync(join(folder, 'meta', '_journal.json'))) {
    throw new KeybrokerError('not-ready', 'migrations folder is missing or has no meta/_journal.json')
  }
  return folder
}

/** Where `npm run build` keeps the templates: `<package root>/dist/pglite-template`. */
export function defaultTemplateRoot(): string {
  return join(packageRoot(), 'dist', 'pglite-template')
}

/** The installed PGlite's version (its package.json, found next to its entry point). */
function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite')
  let dir = dirname(entry)
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) {
      const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'))
      if (typeof parsed === 'object' && parsed !== null && 'name' in parsed && parsed.name === '@electric-sql/pglite' && 'version' in parsed) {
        return String(parsed.version)
      }
    }
    const parent = dirname(dir)
    if (parent === dir) throw new KeybrokerError('not-ready', 'the version of @electric-sql/pglite was not found')
    dir = parent
  }
}

/**
 * The template's name: SHA-256 over the template format, the PGlite version, the migration
 * journal and every migration's SQL, in journal order. Any change gives another name.
 */
export async function templateKey(): Promise<string> {
  const folder = migrationsFolder()
  const hash = createHash('sha256')
  hash.update(`keybroker-pglite-template:${TEMPLATE_FORMAT}\npglite:${pgliteVersion()}\n`)
  const journal = await readFile(join(folder, 'meta', '_journal.json'))
  hash.update(journal)
  for (const name of (await readdir(folder)).filter((n) => n.endsWith('.sql')).sort()) {
    hash.update(`\n${name}\n`)
    hash.update(await readFile(join(folder, name)))
  }
  return hash.digest('hex').slice(0, 32)
}

/** The complete template for this PGlite and these migrations under `root`, if one was made. */
export async function findTemplate(root: string): Promise<string | undefined> {
  const dir = join(root, await templateKey())
  return existsSync(join(dir, 'PG_VERSION')) ? dir : undefined
}

/**
 * Fills the new data directory `dataDir` (absent or empty) from `template`: copied into a
 * sibling temporary directory with owner-only modes (0700 directories, 0600 files), then renamed
 * into place, so an interrupted copy never leaves a half data directory behind. The caller holds
 * the data directory's lock.
 * @throws when the template holds anything but files and directories, or on I/O errors
 */
export async function seedFromTemplate(template: string, dataDir: string): Promise<void> {
  const staging = `${dataDir}.seeding-${process.pid}`
  await rm(staging, { recursive: true, force: true })
  try {
    await copyOwnerOnly(template, staging)
    // rmdir, not rm -r: it fails rather than delete anything if the directory is not empty.
    await rmdir(dataDir).catch((err: unknown) => {
      if (!(err instanceof Error && 'code' in err && err.code === 'ENOENT')) throw err
    })
    await rename(staging, dataDir)
  } catch (err) {
    await rm(staging, { recursive: true, force: true })
    throw err
  }
}

async function copyOwnerOnly(from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o700 })
  await chmod(to, 0o700)
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    const target = join(to, entry.name)
    if (entry.isDirectory()) await copyOwnerOnly(source, target)
    else if (entry.isFile()) {
      await copyFile(source, target)
      await chmod(target, 0o600)
    } else throw new KeybrokerError('not-ready', `PGlite template holds something other than a file or directory: ${entry.name}`)
  }
}

/** True when `dir` does not exist or is an empty directory (a first start). */
export async function isEmptyDirectory(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return true
    throw err
  }
}
