/**
 * `*_FILE` variants of the secret settings, as container secrets (Docker/compose `secrets:`,
 * Kubernetes secret volumes) deliver them: the variable names a file whose content (without a
 * trailing newline) is the value. Given both ways, the setting is refused as ambiguous.
 */
import { readFileSync } from 'node:fs'
import { ConfigError } from './config.js'

/** Secret settings that also take `<NAME>_FILE`. (The KEK has its own KEYBROKER_KEK_FILE setting.) */
export const SECRET_FILE_SETTINGS = ['KEYBROKER_BOOTSTRAP_ADMIN_TOKEN', 'DATABASE_URL'] as const

/** The password of DATABASE_URL from a file, so the URL itself holds no secret (one secret shared with the PostgreSQL container). */
export const DATABASE_PASSWORD_FILE = 'KEYBROKER_DATABASE_PASSWORD_FILE'

/** Every variable this module reads, for lists of known settings. */
export const SECRET_FILE_VARIABLES = [...SECRET_FILE_SETTINGS.map((s) => `${s}_FILE`), DATABASE_PASSWORD_FILE] as const

const MAX_SECRET_FILE_BYTES = 64 * 1024

function readSecretFile(variable: string, path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(variable, `cannot read ${path} (${err instanceof Error && 'code' in err ? String(err.code) : 'error'})`)
  }
  if (text.length > MAX_SECRET_FILE_BYTES) throw new ConfigError(variable, `${path} is larger than ${MAX_SECRET_FILE_BYTES} bytes`)
  const value = text.replace(/\r?\n$/, '')
  if (value === '') throw new ConfigError(variable, `${path} is empty`)
  return value
}

/** The environment with each `*_FILE` variant read into its setting; errors name the variable, never the value. */
export function withSecretFiles(env: Readonly<Record<string, string | undefined>>): Readonly<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = { ...env }
  for (const name of SECRET_FILE_SETTINGS) {
    const file = env[`${name}_FILE`]
    if (file === undefined || file === '') continue
    if (env[name] !== undefined && env[name] !== '') throw new ConfigError(`${name}_FILE`, `give ${name} once: the variable or the file`)
    out[name] = readSecretFile(`${name}_FILE`, file)
  }
  const passwordFile = env[DATABASE_PASSWORD_FILE]
  if (passwordFile !== undefined && passwordFile !== '') {
    const url = out['DATABASE_URL']
    if (url === undefined || url === '') throw new ConfigError(DATABASE_PASSWORD_FILE, 'needs DATABASE_URL (without a password) to add the password to')
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new ConfigError('DATABASE_URL', 'must be a postgres:// URL')
    }
    if (parsed.password !== '') throw new ConfigError(DATABASE_PASSWORD_FILE, 'DATABASE_URL already holds a password')
    parsed.password = encodeURIComponent(readSecretFile(DATABASE_PASSWORD_FILE, passwordFile))
    out['DATABASE_URL'] = parsed.toString()
  }
  return out
}
