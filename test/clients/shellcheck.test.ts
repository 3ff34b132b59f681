/** Every shell script of the boot-time unlock clients passes shellcheck (Debian package). */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CLIENTS_DIR, FIXTURES, run } from './clevis/tools.js'

function shellScripts(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...shellScripts(path))
    else if (/^#!\s*\/bin\/(ba)?sh|^# shellcheck shell=/m.test(readFileSync(path, 'utf8').slice(0, 200))) out.push(path)
  }
  return out
}

const SCRIPTS = [...shellScripts(CLIENTS_DIR), ...shellScripts(FIXTURES)]

describe('shellcheck', () => {
  it('finds the pin, the unlock command, the hooks and the dracut module', () => {
    const names = SCRIPTS.map((p) => relative(CLIENTS_DIR, p))
    for (const expected of [
      'clevis/clevis-encrypt-keybroker',
      'clevis/clevis-decrypt-keybroker',
      'clevis/keybroker-unlock',
      'clevis/keybroker-functions',
      'initramfs-tools/hooks/keybroker',
      'initramfs-tools/keyscript',
      'dracut/50clevis-pin-keybroker/module-setup.sh',
      'install.sh',
      'jindisk/getting_key.sh',
      'jindisk/hook',
      'automata/keybroker-automata',
    ]) {
      expect(names).toContain(expected)
    }
  })

  it('passes shellcheck, every script (one run: shellcheck follows the sourced functions once)', async () => {
    const r = await run('shellcheck', ['-x', '--severity=style', '--format=gcc', ...SCRIPTS], { cwd: CLIENTS_DIR })
    expect(r.stdout.toString()).toBe('')
    expect(r.code).toBe(0)
  })
})
