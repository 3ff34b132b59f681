/**
 * Every command and subcommand answers `--help` with exit 0, without reading the configuration,
 * opening a database or starting anything: run with a configuration that would fail each of
 * those (a bad setting, a config file that does not exist, an unwritable data directory, a
 * database nobody listens on).
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { createCliContext } from '../../src/cli/io.js'
import { buildProgram, runCli } from '../../src/cli/program.js'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const NEVER_CREATED = join(tmpdir(), `keybroker-help-${process.pid}-never-created`)
const BROKEN_ENV: Record<string, string> = {
  KEYBROKER_CONFIG: join(NEVER_CREATED, 'missing.json'),
  KEYBROKER_DATA_DIR: NEVER_CREATED,
  KEYBROKER_TOKEN_TTL_SECONDS: 'soon',
  KEYBROKER_LISTEN: 'nowhere',
  DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
  KEYBROKER_URL: 'not a url',
}

/** Every command path of the tree (`['admin', 'secret', 'create']`, …), the program itself first. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return [prefix, ...cmd.commands.flatMap((c) => commandPaths(c, [...prefix, c.name()]))]
}

async function run(args: string[]) {
  let stdout = ''
  let stderr = ''
  const status = await runCli(args, createCliContext({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, BROKEN_ENV))
  return { status, stdout, stderr }
}

const PATHS = commandPaths(buildProgram(createCliContext({ stdout: () => {}, stderr: () => {} })))

describe('keybroker --help', () => {
  it('covers the whole tree', () => {
    const names = PATHS.map((p) => p.join(' '))
    for (const expected of ['serve', 'migrate', 'audit verify', 'evidence verify', 'bundle sign', 'sev measure', 'aleph launch', 'admin token create', 'admin secret rotate', 'admin policy explain', 'admin audit verify', 'admin tpm ca list', 'dev attest']) {
      expect(names).toContain(expected)
    }
    expect(PATHS.length).toBeGreaterThan(80)
  })

  it.each(PATHS.map((p) => [p.join(' ') || '(program)', p] as const))('%s --help exits 0 with its usage', async (_name, path) => {
    for (const flag of ['--help', '-h']) {
      const res = await run([...path, flag])
      expect(res.stderr).toBe('')
      expect(res.status).toBe(0)
      expect(res.stdout).toContain(`Usage: keybroker${path.length > 0 ? ` ${path.join(' ')}` : ''}`)
    }
    expect(existsSync(NEVER_CREATED)).toBe(false)
  })

  it('prints usage and exits 2 for a group without a command, an unknown command or option', async () => {
    const group = await run(['admin', 'secret'])
    expect(group.status).toBe(2)
    expect(group.stderr).toContain('Usage: keybroker admin secret')
    const unknown = await run(['admin', 'secrte', 'list'])
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toContain("unknown command 'secrte'")
    expect(unknown.stderr).toContain('Did you mean secret?')
    const option = await run(['admin', 'secret', 'list', '--frobnicate'])
    expect(option.status).toBe(2)
    expect(option.stderr).toContain("unknown option '--frobnicate'")
    const missing = await run(['admin', 'secret', 'show'])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain("missing required argument 'name'")
    expect((await run(['admin', 'policy', 'show', 'x', '--version', 'one'])).status).toBe(2)
    expect(existsSync(NEVER_CREATED)).toBe(false)
  })

  it('works as the installed command: --help, --version and help for a subcommand', async () => {
    const bin = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...BROKEN_ENV }, timeout: 60_000 }, (err, stdout, stderr) =>
          resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
        ),
      )
    const [help, version, serveHelp, helpCommand] = await Promise.all([bin(['--help']), bin(['--version']), bin(['serve', '--help']), bin(['help', 'migrate'])])
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('Commands:')
    expect(version.status).toBe(0)
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    expect(serveHelp.status).toBe(0)
    expect(serveHelp.stdout).toContain('Usage: keybroker serve')
    expect(helpCommand.status).toBe(0)
    expect(helpCommand.stdout).toContain('Usage: keybroker migrate')
    expect(existsSync(NEVER_CREATED)).toBe(false)
  })
})
