import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError, type Config } from '../config/config.js'
import { createKekRing, kekFromBase64, loadOrCreateKek, type Kek, type KekRing } from '../secrets/index.js'

/**
 * The KEK ring of the configuration: the current KEK (`KEYBROKER_KEK`, `KEYBROKER_KEK_FILE`, else
 * `<data>/keys/kek.b64`, created on first start) seals; it and the earlier KEKs
 * (`KEYBROKER_KEK_PREVIOUS`, `KEYBROKER_KEK_PREVIOUS_FILE`) open.
 * @throws ConfigError naming the setting whose key or file is unreadable or malformed (never the key)
 */
export async function loadKekRing(config: Config): Promise<KekRing> {
  const current =
    config.kek !== undefined
      ? parseKek(config.kek, 'KEYBROKER_KEK')
      : config.kekFile !== undefined
        ? parseKek(await readSettingFile(config.kekFile, 'KEYBROKER_KEK_FILE'), 'KEYBROKER_KEK_FILE')
        : await loadOrCreateKek(join(config.dataDir, 'keys'))
  const previous = config.kekPrevious.map((k) => parseKek(k, 'KEYBROKER_KEK_PREVIOUS'))
  if (config.kekPreviousFile !== undefined) {
    const text = await readSettingFile(config.kekPreviousFile, 'KEYBROKER_KEK_PREVIOUS_FILE')
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
    if (lines.length > 16) throw new ConfigError('KEYBROKER_KEK_PREVIOUS_FILE', 'at most 16 keys')
    for (const line of lines) previous.push(parseKek(line, 'KEYBROKER_KEK_PREVIOUS_FILE'))
  }
  return createKekRing(current, previous)
}

function parseKek(text: string, setting: string): Kek {
  try {
    return kekFromBase64(text)
  } catch {
    throw new ConfigError(setting, 'must hold base64 of 32 bytes')
  }
}

async function readSettingFile(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'ascii')
  } catch (err) {
    throw new ConfigError(setting, `cannot read ${path} (${err instanceof Error && 'code' in err ? String(err.code) : 'error'})`)
  }
}
