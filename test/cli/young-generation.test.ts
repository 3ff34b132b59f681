import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SERVE_SEMI_SPACE_FLAG, servingExecArgv } from '../../src/cli/young-generation.js'

const root = new URL('../../', import.meta.url)

describe('servingExecArgv', () => {
  it('adds serve\'s semi-space size to the flags of a serving process', () => {
    expect(servingExecArgv([], undefined)).toEqual([SERVE_SEMI_SPACE_FLAG])
    expect(servingExecArgv(['--enable-source-maps'], '--trace-gc')).toEqual(['--enable-source-maps', SERVE_SEMI_SPACE_FLAG])
  })

  it('leaves a young-generation size of the operator\'s own alone', () => {
    expect(servingExecArgv(['--max-semi-space-size=32'], undefined)).toEqual(['--max-semi-space-size=32'])
    expect(servingExecArgv([], '--max_semi_space_size=4')).toEqual([])
    expect(servingExecArgv(['--min-semi-space-size', '2'], '')).toEqual(['--min-semi-space-size', '2'])
  })

  it('is what `npm start` and the container image start serve with', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> }
    expect(pkg.scripts['start']).toContain(`node ${SERVE_SEMI_SPACE_FLAG} bin/keybroker.js serve`)
    const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8')
    expect(dockerfile).toContain(`CMD ["node", "${SERVE_SEMI_SPACE_FLAG}", "bin/keybroker.js", "serve"]`)
  })

  // In child processes: V8 reads the size once, when it sets up the heap. A workload that keeps
  // some garbage alive across scavenges makes V8 grow the new space to its maximum.
  it('caps the new space in a process started with it (V8 default: 16 MiB semi-spaces)', () => {
    const workload = `
      const v8 = await import('node:v8')
      let peak = 0, keep = []
      for (let i = 0; i < 400000; i++) {
        keep.push({ i, s: 'z'.repeat(40) + i })
        if (keep.length > 20000) keep = []
        if (i % 1000 === 0) peak = Math.max(peak, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)
      }
      process.stdout.write(String(peak / 2 ** 20))
    `
    const newSpaceMiB = (flags: string[]): number => {
      const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', workload], { encoding: 'utf8', env: { PATH: process.env.PATH } })
      expect(r.status, r.stderr).toBe(0)
      return Number(r.stdout)
    }
    expect(newSpaceMiB(servingExecArgv([], undefined))).toBeLessThanOrEqual(16)
    expect(newSpaceMiB([])).toBeGreaterThan(16)
  })
})
