/**
 * Benchmark (not a test): what `keybroker serve` holds at start. The service runs with
 * `--expose-gc` and a module loader hook (bench/support/module-log.ts); printed after start and
 * after N attest+release rounds of sample evidence: the ES modules loaded (from node_modules, and
 * their source size), the CommonJS modules, and the V8 heap in use after two forced full
 * collections, then the packages and folders whose source weighs most.
 *
 *   npm run build && node dist/bench/modules.js                      # PGlite
 *   DATABASE_URL=postgres://… node dist/bench/modules.js              # PostgreSQL
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateAttestationKey } from '../src/clients/index.js'
import { createReleasableSecret, runRounds, sampleEvidence } from './support/rounds.js'
import { startService, type BenchService } from './support/service.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200)
const MEASUREMENT = 'ef'.repeat(48)
const MiB = 2 ** 20

interface Heap {
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly commonJs: number
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'keybroker-modules-'))
  const log = join(dir, 'modules.log')
  const preload = fileURLToPath(new URL('./support/module-log.js', import.meta.url))
  process.env.BENCH_NODE_FLAGS = `${process.env.BENCH_NODE_FLAGS ?? ''} --expose-gc --import=${preload}`
  const service = await startService({ concurrency: 8, env: { BENCH_MODULE_LOG: log } })
  try {
    const rows = [['after start', ...(await snapshot(service, log))]]
    await createReleasableSecret(service, { set: 'modules-rv', secret: 'modules-secret' }, MEASUREMENT)
    const keys = await Promise.all(Array.from({ length: 4 }, () => generateAttestationKey('P-256')))
    const run = await runRounds(service, keys, { requests: ROUNDS, concurrency: 8, release: ['modules-secret'], evidence: sampleEvidence(MEASUREMENT) })
    if (run.errors > 0) throw new Error(`${run.errors} rounds failed: ${run.lastError}`)
    rows.push([`after ${ROUNDS} attest+release`, ...(await snapshot(service, log))])
    const engine = process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'
    process.stdout.write(`\n| serve (${engine}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}) | ES modules (node_modules) | source | CommonJS modules | heap used after GC / committed | external |\n|---|---|---|---|---|---|\n`)
    for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`)
    process.stdout.write('\n| heaviest sources | modules | kB |\n|---|---|---|\n')
    for (const [group, { count, bytes }] of heaviest(await readFile(log, 'utf8')).slice(0, 15)) process.stdout.write(`| ${group} | ${count} | ${(bytes / 1000).toFixed(0)} |\n`)
  } finally {
    await service.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

/** Asks the service for its heap after a forced GC (SIGUSR2) and reads the module log. */
async function snapshot(service: BenchService, log: string): Promise<string[]> {
  const before = await readHeaps(log)
  process.kill(service.pid, 'SIGUSR2')
  let heaps = before
  for (let i = 0; i < 200 && heaps.length === before.length; i++) {
    await new Promise((r) => setTimeout(r, 50))
    heaps = await readHeaps(log)
  }
  const heap = heaps.at(-1)
  if (heap === undefined || heaps.length === before.length) throw new Error('the service did not answer SIGUSR2')
  const modules = (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '')
  const fromPackages = modules.filter((l) => l.includes('/node_modules/')).length
  const bytes = modules.reduce((sum, l) => sum + Number(l.split('\t')[1] ?? 0), 0)
  return [
    `${modules.length} (${fromPackages})`,
    `${(bytes / 1e6).toFixed(2)} MB`,
    String(heap.commonJs),
    `${(heap.heapUsed / MiB).toFixed(1)} / ${(heap.heapTotal / MiB).toFixed(1)} MiB`,
    `${(heap.external / MiB).toFixed(1)} MiB`,
  ]
}

async function readHeaps(log: string): Promise<Heap[]> {
  const text = await readFile(`${log}.heap`, 'utf8').catch(() => '')
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Heap)
}

/** Source bytes per package (node_modules) or per folder of dist/src. */
function heaviest(text: string): [string, { count: number; bytes: number }][] {
  const groups = new Map<string, { count: number; bytes: number }>()
  for (const line of text.split('\n')) {
    const [url = '', size = '0'] = line.split('\t')
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]
    const folder = /\/dist\/(src\/[^/]+)\//.exec(url)?.[1]
    const key = pkg ?? folder
    if (key === undefined) continue
    const g = groups.get(key) ?? { count: 0, bytes: 0 }
    groups.set(key, { count: g.count + 1, bytes: g.bytes + Number(size) })
  }
  return [...groups].sort((a, b) => b[1].bytes - a[1].bytes)
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
