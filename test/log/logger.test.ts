/**
 * The stderr log writer batches lines (src/log/logger.ts) and must still never lose the last
 * lines when the process ends: on its own, by process.exit(), by an uncaught exception. Each case
 * runs in a child process (tsx on the source) and reads what reached its stderr.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const LOGGER = fileURLToPath(new URL('../../src/log/logger.ts', import.meta.url))
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url))

function runChild(body: string): { status: number | null; lines: { msg: string; i?: number }[] } {
  const script = `import { createLogger } from ${JSON.stringify(LOGGER)}\nconst log = createLogger('info')\n${body}\n`
  const r = spawnSync(process.execPath, [TSX, '--eval', script], { encoding: 'utf8', timeout: 60_000 })
  const lines = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; i?: number })
  return { status: r.status, lines }
}

describe('buffered stderr log', () => {
  it('writes every line, in order, when the process ends by itself (more than one batch)', () => {
    const { status, lines } = runChild(`for (let i = 0; i < 3000; i++) log.info('line', { i, pad: 'x'.repeat(40) })`)
    expect(status).toBe(0)
    expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 3000 }, (_, i) => i))
  })

  it('writes the last lines before process.exit()', () => {
    const { status, lines } = runChild(`log.info('first'); log.error('last words'); process.exit(3)`)
    expect(status).toBe(3)
    expect(lines.map((l) => l.msg)).toEqual(['first', 'last words'])
  })

  it('writes the last lines when an uncaught exception ends the process', () => {
    const { status, lines } = runChild(`log.info('before'); log.warn('about to fail'); setTimeout(() => { log.info('in timer'); throw new Error('boom') }, 10)`)
    expect(status).not.toBe(0)
    expect(lines.map((l) => l.msg)).toEqual(['before', 'about to fail', 'in timer'])
  })

  it('writes the last lines when an unhandled rejection ends the process', () => {
    const { status, lines } = runChild(`log.info('before'); void Promise.reject(new Error('boom'))`)
    expect(status).not.toBe(0)
    expect(lines.map((l) => l.msg)).toEqual(['before'])
  })
})
