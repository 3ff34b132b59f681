import { describe, expect, it } from 'vitest'
import { createVerifierRegistry, EVIDENCE_TYPES, verifierFor } from '../../src/evidence/index.js'

/** The composite types load on first use (src/evidence/registry.ts); snp, tdx, tpm and sample at start. */
const LAZY = ['gotpm', 'az-snp-vtpm', 'az-tdx-vtpm', 'automata', 'cosmian']

describe('evidence registry: verifiers that load on first use', () => {
  it('lists every type, in the same order as before', () => {
    expect(EVIDENCE_TYPES).toEqual(['sample', 'snp', 'tpm', 'tdx', 'az-snp-vtpm', 'az-tdx-vtpm', 'gotpm', 'automata', 'cosmian'])
    expect(createVerifierRegistry({ allowSample: true, vmplAtAppraisal: true }).types).toEqual(EVIDENCE_TYPES)
  })

  it.each(LAZY)('%s: the schema and binding profile known at start are those of the loaded verifier', async (type) => {
    for (const listed of [verifierFor(type, { allowSample: false }), createVerifierRegistry({ allowSample: false, snp: {}, tdx: {} }).verifierFor(type)]) {
      expect(listed.load).toBeTypeOf('function')
      const loaded = await listed.load?.()
      expect(loaded?.type).toBe(type)
      expect(loaded?.schema).toBe(listed.schema)
      expect(loaded?.binding).toBe(listed.binding)
      expect(loaded?.fromFile).toBeTypeOf('function')
      expect(await listed.load?.()).toBe(loaded)
    }
  })

  it('snp, tdx, tpm and sample are loaded at start (no load step)', () => {
    for (const type of ['sample', 'snp', 'tdx', 'tpm']) expect(verifierFor(type, { allowSample: true }).load).toBeUndefined()
  })
})
