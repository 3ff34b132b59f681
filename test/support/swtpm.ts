/**
 * A real software TPM for tests: swtpm (TPM 2.0) on a Unix socket in a fresh temporary directory,
 * manufactured by `swtpm_setup --create-ek-cert` with a local CA of that directory (a real EK
 * certificate chain: swtpm-localca-rootca → swtpm-localca → EK), driven with tpm2-tools over the
 * `swtpm:` TCTI. Every command is bounded in time; swtpm is stopped by its PID and the directory
 * removed in `close()`, and on process exit if a test run dies first. swtpm has no resource
 * manager, so transient objects and sessions are flushed after each command that creates them
 * (docs/architecture.md, "Known traps").
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const COMMAND_TIMEOUT_MS = 30_000
const START_TIMEOUT_MS = 10_000

/** True when swtpm, swtpm_setup and tpm2-tools are installed. */
export function softwareTpmAvailable(): boolean {
  return ['swtpm', 'swtpm_setup', 'swtpm_localca', 'tpm2_quote', 'tpm2_createak'].every(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0,
  )
}

/**
 * Whether swtpm tests must run: CI sets KEYBROKER_TEST_REQUIRE_SWTPM=1 (.ci/run), so missing
 * tools fail there instead of skipping.
 */
export function softwareTpmRequired(): boolean {
  return process.env['KEYBROKER_TEST_REQUIRE_SWTPM'] === '1'
}

export interface SoftwareTpm {
  readonly dir: string
  /** Runs a tpm2-tools command against this TPM; returns stdout. Fails on a non-zero exit. */
  tool(name: string, args: readonly string[]): Promise<string>
  /** Reads a file of the TPM's directory. */
  read(name: string): Promise<Buffer>
  write(name: string, data: Uint8Array | string): Promise<void>
  /** PEM of swtpm's local root CA and intermediate (the EK certificate issuers). */
  readonly rootCaPem: string
  readonly issuerCaPem: string
  close(): Promise<void>
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, cwd, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

async function waitFor(path: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`swtpm exited with ${child.exitCode} before listening`)
    if (Date.now() > deadline) throw new Error('swtpm did not create its socket in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * Manufactures and starts a TPM. `banks` are the PCR banks swtpm_setup activates (default
 * sha256 and sha1).
 */
export async function startSoftwareTpm(options: { banks?: readonly string[] } = {}): Promise<SoftwareTpm> {
  const dir = await mkdtemp(join(tmpdir(), 'keybroker-swtpm-'))
  let child: ChildProcess | undefined
  try {
    const ca = join(dir, 'ca')
    const state = join(dir, 'state')
    await run('mkdir', ['-p', ca, state], process.env, dir)
    await writeFile(
      join(dir, 'localca.conf'),
      `statedir = ${ca}\nsigningkey = ${ca}/signkey.pem\nissuercert = ${ca}/issuercert.pem\ncertserial = ${ca}/certserial\n`,
    )
    await writeFile(join(dir, 'localca.options'), '--platform-manufacturer keybroker\n--platform-version 1\n--platform-model test\n')
    await writeFile(
      join(dir, 'swtpm_setup.conf'),
      `create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = ${dir}/localca.conf\ncreate_certs_tool_options = ${dir}/localca.options\nactive_pcr_banks = ${(options.banks ?? ['sha256', 'sha1']).join(',')}\n`,
    )
    await run(
      'swtpm_setup',
      ['--tpm2', '--tpmstate', state, '--create-ek-cert', '--config', join(dir, 'swtpm_setup.conf'), '--overwrite'],
      { ...process.env, XDG_CONFIG_HOME: dir },
      dir,
    )
    const socket = join(dir, 'tpm.sock')
    child = spawn(
      'swtpm',
      ['socket', '--tpm2', '--tpmstate', `dir=${state}`, '--server', `type=unixio,path=${socket}`, '--ctrl', `type=unixio,path=${socket}.ctrl`, '--flags', 'not-need-init,startup-clear'],
      { stdio: 'ignore', cwd: dir },
    )
    live.add(child)
    await waitFor(`${socket}.ctrl`, child)
    await waitFor(socket, child)
    const env = { ...process.env, TPM2TOOLS_TCTI: `swtpm:path=${socket}` }
    const running = child
    const rootCaPem = await readFile(join(ca, 'swtpm-localca-rootca-cert.pem'), 'latin1')
    const issuerCaPem = await readFile(join(ca, 'issuercert.pem'), 'latin1')
    return {
      dir,
      rootCaPem,
      issuerCaPem,
      tool: (name, args) => run(name, args, env, dir),
      read: (name) => readFile(join(dir, name)),
      write: (name, data) => writeFile(join(dir, name), data),
      close: async () => {
        await stop(running)
        await rm(dir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    if (child !== undefined) await stop(child)
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

async function stop(child: ChildProcess): Promise<void> {
  live.delete(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}

/** The client script of src/clients/tpm/ (tests drive the TPM through it, so it is tested too). */
export const TPM_CLIENT_SCRIPT = new URL('../../src/clients/tpm/keybroker-tpm', import.meta.url).pathname

/** `keybroker-tpm create-ak` into `tpm.dir/<name>`. */
export async function createAk(tpm: SoftwareTpm, name: string, alg: 'rsa' | 'ecc' = 'rsa'): Promise<void> {
  await tpm.tool(TPM_CLIENT_SCRIPT, ['create-ak', join(tpm.dir, name), alg])
}

/** `keybroker-tpm quote`: the `tpm` evidence JSON for `qualifyingData` (hex). Logs are file names in `tpm.dir`, or `-`. */
export async function quoteEvidence(
  tpm: SoftwareTpm,
  akDir: string,
  qualifyingData: string,
  pcrs: string,
  eventLog = '-',
  imaLog = '-',
): Promise<{ type: 'tpm'; [k: string]: unknown }> {
  const abs = (f: string): string => (f === '-' ? f : join(tpm.dir, f))
  const out = await tpm.tool(TPM_CLIENT_SCRIPT, ['quote', join(tpm.dir, akDir), qualifyingData, pcrs, abs(eventLog), abs(imaLog)])
  return JSON.parse(out) as { type: 'tpm'; [k: string]: unknown }
}

/** Extends PCR `index` in the given banks with the given digests (hex). */
export async function extendPcr(tpm: SoftwareTpm, index: number, digests: Partial<Record<'sha1' | 'sha256', string>>): Promise<void> {
  const spec = Object.entries(digests).map(([bank, hex]) => `${bank}=${hex}`).join(',')
  await tpm.tool('tpm2_pcrextend', [`${index}:${spec}`])
}
