import { accessSync, constants, existsSync, mkdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ConfigError, SETTINGS, type Config } from './config.js'

/**
 * `KEYBROKER_*` variables that are not service settings but are read by keybroker's other
 * programs (the admin CLI, the clevis pin and boot hooks, the attesters); the service leaves
 * them alone without a warning. `KEYBROKER_TEST_*` switches belong to the test suite.
 */
const CLIENT_VARIABLES = new Set([
  'KEYBROKER_CONFIG', 'KEYBROKER_URL', 'KEYBROKER_TOKEN', 'KEYBROKER_TOKEN_FILE', 'KEYBROKER_CACERT', 'KEYBROKER_CA',
  'KEYBROKER_PIN_SHA256', 'KEYBROKER_ATTESTERS', 'KEYBROKER_ATTESTER_BACKOFF_MS', 'KEYBROKER_AUTOMATA_AGENT', 'KEYBROKER_CONF',
  'KEYBROKER_FILES', 'KEYBROKER_JINDISK_GETTING_KEY', 'KEYBROKER_KEYSCRIPT', 'KEYBROKER_KMSG', 'KEYBROKER_RETRIES',
  'KEYBROKER_SNP_CERTS', 'KEYBROKER_SNP_VMPL', 'KEYBROKER_TARGET', 'KEYBROKER_TDX_ATTEST_CONF', 'KEYBROKER_TDX_QGS_PORT',
  'KEYBROKER_TIMEOUT', 'KEYBROKER_TPM', 'KEYBROKER_TPM_EVENT_LOG', 'KEYBROKER_TSM_ROOT', 'KEYBROKER_UNLOCK_CONFIG',
  // Set by `serve`'s cluster primary in its workers' environment (src/cli/worker-messages.ts).
  'KEYBROKER_CLUSTER_WORKER',
])

/**
 * `KEYBROKER_*` variables in `env` that no setting reads, each with the nearest setting name
 * when one is close (a typo): `serve` warns about them, since an ignored variable usually means
 * a setting the operator believes is active is not.
 */
export function unknownSettings(env: Readonly<Record<string, string | undefined>>): { readonly name: string; readonly suggestion: string | undefined }[] {
  const known = new Set<string>(Object.values(SETTINGS).map((s) => s.env))
  return Object.keys(env)
    .filter((name) => name.startsWith('KEYBROKER_') && !name.startsWith('KEYBROKER_TEST_'))
    .filter((name) => !known.has(name) && !CLIENT_VARIABLES.has(name) && !(name.endsWith('_FILE') && known.has(name.slice(0, -5))))
    .sort()
    .map((name) => ({ name, suggestion: nearest(name, [...known]) }))
}

function nearest(name: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate)
    if (best === undefined || distance < best.distance) best = { name: candidate, distance }
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(name.length / 6)) ? best.name : undefined
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

// statfs f_type of pseudo filesystems a data directory can never live on (linux/magic.h).
const PSEUDO_FILESYSTEMS: Readonly<Record<number, string>> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x64626720: 'debugfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x73636673: 'securityfs',
  0x1cd1: 'devpts',
}

/**
 * Checks, before anything is opened, the files and directories the configuration names, so that
 * a mistake stops start-up at once with the setting's name instead of failing (or spinning)
 * half-way: TLS files readable; the data directory a directory (created if missing) on a real
 * filesystem, where a file can be written and removed.
 * @throws ConfigError naming the setting
 */
export function checkConfiguredPaths(config: Config): void {
  if (config.tls !== undefined) {
    readable(config.tls.certFile, SETTINGS.tlsCert.env)
    readable(config.tls.keyFile, SETTINGS.tlsKey.env)
  }
  if (config.tokenKeyFile !== undefined) readable(config.tokenKeyFile, SETTINGS.tokenKeyFile.env)
  const setting = SETTINGS.dataDir.env
  const dir = config.dataDir
  const reason = (err: unknown): string => (err instanceof Error && 'code' in err ? String(err.code) : String(err))
  // The filesystem is judged at the nearest existing ancestor, before any mkdir: Node's
  // recursive mkdir never returns under /proc/<pid>/ (it retries forever), which is how a data
  // directory there used to hang start-up.
  let existing = dir
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing)
  const fsType = PSEUDO_FILESYSTEMS[statfsSync(existing).type]
  if (fsType !== undefined) throw new ConfigError(setting, `${dir} is on ${fsType}, a pseudo filesystem; choose a directory on disk`)
  if (!statSync(existing).isDirectory()) throw new ConfigError(setting, `${existing === dir ? dir : `${existing} (in ${dir})`} is not a directory`)
  try {
    mkdirSync(dir, { recursive: true })
  } catch (err) {
    throw new ConfigError(setting, `cannot create the data directory ${dir} (${reason(err)})`)
  }
  const probe = join(dir, `.keybroker-write-test-${process.pid}`)
  try {
    writeFileSync(probe, 'ok', { mode: 0o600 })
    rmSync(probe)
  } catch (err) {
    throw new ConfigError(setting, `the data directory ${dir} is not writable (${reason(err)})`)
  }
}

function readable(path: string, setting: string): void {
  try {
    accessSync(path, constants.R_OK)
    if (!statSync(path).isFile()) throw new ConfigError(setting, `${path} is not a file`)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(setting, `cannot read ${path} (${err instanceof Error && 'code' in err ? String(err.code) : String(err)})`)
  }
}
