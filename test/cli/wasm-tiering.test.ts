import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { SERVE_WASM_FLAG, wasmTieringFlag } from '../../src/cli/wasm-tiering.js'

describe('wasmTieringFlag', () => {
  it('keeps WebAssembly on Liftoff for the embedded database when the process was given no compiler flag', () => {
    expect(wasmTieringFlag([], undefined, true)).toBe(SERVE_WASM_FLAG)
    expect(wasmTieringFlag(['--max-old-space-size=512'], '--trace-gc --liftoffx', true)).toBe(SERVE_WASM_FLAG)
  })

  it('leaves PostgreSQL, and a compiler flag given on the command line or in NODE_OPTIONS, alone', () => {
    expect(wasmTieringFlag([], undefined, false)).toBeUndefined()
    expect(wasmTieringFlag(['--no-liftoff-only'], undefined, true)).toBeUndefined()
    expect(wasmTieringFlag([], '--enable-source-maps --wasm_tier_up', true)).toBeUndefined()
    expect(wasmTieringFlag([], '--wasm-tiering-budget=1000', true)).toBeUndefined()
  })
})

describe('limitWasmTiering', () => {
  // In a child process (the flag is V8's, for the whole process): a hot WebAssembly loop, which
  // V8 tiers up to TurboFan within a few calls unless Liftoff-only is in effect.
  const module = fileURLToPath(new URL('../../dist/src/cli/wasm-tiering.js', import.meta.url))
  // (func (export "spin") (param i32) (result i32) (local i32) loop: local1++ while local1 < param)
  const wasm = [
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f, 3, 2, 1, 0, 7, 8, 1, 4, 0x73, 0x70, 0x69, 0x6e, 0, 0, 0x0a, 0x19, 1, 0x17, 1, 1,
    0x7f, 3, 0x40, 0x20, 1, 0x41, 1, 0x6a, 0x21, 1, 0x20, 1, 0x20, 0, 0x48, 0x0d, 0, 0x0b, 0x20, 1, 0x0b,
  ]
  const workload = (embedded: boolean) => `
    const { limitWasmTiering } = await import(${JSON.stringify(module)})
    const flag = limitWasmTiering(${embedded})
    const { instance } = await WebAssembly.instantiate(new Uint8Array(${JSON.stringify(wasm)}))
    const spin = instance.exports.spin
    let turbofan = false
    for (let round = 0; round < 100 && !turbofan; round++) {
      for (let i = 0; i < 20; i++) spin(1e6)
      await new Promise((resolve) => setTimeout(resolve, 20))
      turbofan = %IsTurboFanFunction(spin)
    }
    process.stdout.write(JSON.stringify({ flag, turbofan, liftoff: %IsLiftoffFunction(spin) }))
  `
  const run = (nodeFlags: string[], embedded: boolean) => {
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', ...nodeFlags, '--input-type=module', '-e', workload(embedded)], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    })
    expect(r.status, r.stderr).toBe(0)
    return JSON.parse(r.stdout) as { flag?: string; turbofan: boolean; liftoff: boolean }
  }

  it('keeps hot WebAssembly on Liftoff on the embedded database, and tiers up otherwise', () => {
    expect(run([], true)).toEqual({ flag: SERVE_WASM_FLAG, turbofan: false, liftoff: true })
    expect(run([], false)).toEqual({ turbofan: true, liftoff: false })
    expect(run(['--no-liftoff-only'], true)).toEqual({ turbofan: true, liftoff: false })
  }, 60_000)
})
