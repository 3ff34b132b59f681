import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { isKeybrokerError } from '../../src/errors.js'
import { PINNED_ARK_SPKI_SHA256 } from '../../src/evidence/snp/index.js'
import {
  BUILTIN_SEV_ROOT_FILES,
  PINNED_SEV_ARK_SPKI_SHA256,
  PLATFORM_CERT,
  PLATFORM_CERT_SIZE,
  SEV_PRODUCTS,
  builtinSevRoots,
  parsePlatformChain,
  sevRoot,
  spkiSha256,
  verifyPlatformChain,
  type SevProduct,
} from '../../src/sev/index.js'
import { codeOf, type Outcome } from '../support/error-code.js'
import { syntheticSev, type SyntheticSev } from '../generators/sev.js'

const file = (path: string) => new Uint8Array(readFileSync(new URL(`../../${path}`, import.meta.url)))
const naples = (name: string) => file(`test/vectors/sev/naples/${name}.cert`)
/** The real Naples platform chain (virtee/sev tests/naples, see test/vectors/sev/README.md), as `sevctl export` writes it. */
const NAPLES_CHAIN = new Uint8Array(Buffer.concat(['pdh', 'pek', 'oca', 'cek'].map(naples)))
const lower = (p: SevProduct) => p.toLowerCase()

/** The code a chain gets, parsed and verified. */
function chainOutcome(bytes: Uint8Array, roots = builtinSevRoots()): Outcome {
  return codeOf(() => verifyPlatformChain(parsePlatformChain(bytes), roots))
}

/** The detail of the error `fn` throws: the issue asks malformed input to name the field. */
function detailOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (isKeybrokerError(err)) return err.detail
    throw err
  }
  return ''
}

describe('AMD SEV roots', () => {
  it('the built-in certificates are the files in reference-values/amd/sev/ byte for byte', () => {
    for (const p of SEV_PRODUCTS) {
      for (const c of ['ark', 'ask'] as const) {
        const builtin = Buffer.from(BUILTIN_SEV_ROOT_FILES[p][c].replace(/\s/g, ''), 'base64')
        expect(builtin.equals(file(`reference-values/amd/sev/${lower(p)}/${c}.cert`)), `${p} ${c}`).toBe(true)
      }
    }
  })

  it('every ARK is pinned, self-signed and signs its ASK; the key ids link them', () => {
    for (const root of builtinSevRoots()) {
      expect(root.ark.spkiSha256).toBe(PINNED_SEV_ARK_SPKI_SHA256[root.product as SevProduct])
      expect(Buffer.compare(root.ask.certifyingId, root.ark.keyId)).toBe(0)
      expect(root.ark.bits).toBe(root.product === 'Naples' ? 2048 : 4096)
    }
  })

  it('the Milan, Genoa and Turin SEV ARKs are the same keys as the SEV-SNP X.509 ARKs (independent source)', () => {
    for (const p of ['Milan', 'Genoa', 'Turin'] as const) {
      const x509 = new X509Certificate(readFileSync(new URL(`../../reference-values/amd/${lower(p)}/ark-${lower(p)}.pem`, import.meta.url)))
      expect(spkiSha256(x509.publicKey)).toBe(PINNED_SEV_ARK_SPKI_SHA256[p])
      expect(PINNED_ARK_SPKI_SHA256[p]).toBe(PINNED_SEV_ARK_SPKI_SHA256[p])
    }
  })

  it('an ARK that is not pinned, or an ASK of another product, is chain-untrusted', () => {
    const files = (p: SevProduct, c: 'ark' | 'ask') => file(`reference-values/amd/sev/${lower(p)}/${c}.cert`)
    expect(codeOf(() => sevRoot('Naples', files('Naples', 'ark'), files('Naples', 'ask'), [PINNED_SEV_ARK_SPKI_SHA256.Naples]))).toBe('no-error')
    expect(codeOf(() => sevRoot('Naples', files('Naples', 'ark'), files('Naples', 'ask'), [PINNED_SEV_ARK_SPKI_SHA256.Rome]))).toBe('chain-untrusted')
    expect(codeOf(() => sevRoot('Rome', files('Rome', 'ark'), files('Milan', 'ask'), [PINNED_SEV_ARK_SPKI_SHA256.Rome]))).toBe('chain-untrusted')
    expect(codeOf(() => sevRoot('Naples', files('Naples', 'ask'), files('Naples', 'ark'), [PINNED_SEV_ARK_SPKI_SHA256.Naples]))).toBe('evidence-malformed')
  })
})

describe('the real Naples platform chain (test/vectors/sev/naples)', () => {
  it('parses: PDH, PEK, OCA, CEK with the facts of the vectors README', () => {
    const chain = parsePlatformChain(NAPLES_CHAIN)
    expect([chain.pdh.usage, chain.pek.usage, chain.oca.usage, chain.cek.usage]).toEqual(['PDH', 'PEK', 'OCA', 'CEK'])
    expect(chain.pdh.algorithm).toBe('ECDH_SHA256')
    expect([chain.cek.apiMajor, chain.cek.apiMinor, chain.pdh.apiMajor, chain.pdh.apiMinor]).toEqual([0, 14, 0, 16])
    expect(chain.pdh.key.kind === 'ec' ? Buffer.from(chain.pdh.key.x).toString('hex') : '').toBe(
      '36024908d6d5b6a134c1c9aff652c39eaec13f3afeb487ac6210f119199e08e677245f8f4fe9c63ad525245457205295',
    )
    expect(chain.pek.signatures.map((s) => `${s.usage}:${s.algorithm}`)).toEqual(['OCA:ECDSA_SHA256', 'CEK:ECDSA_SHA256'])
    expect(chain.cek.signatures.map((s) => `${s.usage}:${s.algorithm}`)).toEqual(['ASK:RSA_SHA256'])
  })

  it('is accepted with the Naples roots (alone or among all), as Naples', () => {
    expect(verifyPlatformChain(parsePlatformChain(NAPLES_CHAIN), builtinSevRoots(['Naples'])).product).toBe('Naples')
    const all = verifyPlatformChain(parsePlatformChain(NAPLES_CHAIN), builtinSevRoots())
    expect(all.product).toBe('Naples')
    expect(all.pdhSha256).toBe('34b11563c32bd17b4e2b4b8205301af64e7bd06a85e2a6ada789bc9d5dfd9932')
    expect(all.chipId).toMatch(/^[0-9a-f]{64}$/)
  })

  it('is refused with the roots of every other product', () => {
    for (const p of SEV_PRODUCTS.filter((x) => x !== 'Naples')) expect(chainOutcome(NAPLES_CHAIN, builtinSevRoots([p])), p).toBe('chain-untrusted')
    expect(chainOutcome(NAPLES_CHAIN, builtinSevRoots(['Rome', 'Milan', 'Genoa', 'Turin']))).toBe('chain-untrusted')
    expect(chainOutcome(NAPLES_CHAIN, [])).toBe('chain-untrusted')
  })

  it('`sevctl export --full` (ASK and ARK appended) verifies through its own CA chain, which must be pinned', () => {
    const ca = (p: SevProduct) => [file(`reference-values/amd/sev/${lower(p)}/ask.cert`), file(`reference-values/amd/sev/${lower(p)}/ark.cert`)]
    const full = (p: SevProduct) => new Uint8Array(Buffer.concat([NAPLES_CHAIN, ...ca(p)]))
    expect(verifyPlatformChain(parsePlatformChain(full('Naples')), builtinSevRoots()).product).toBe('Naples')
    // The Rome CA chain is pinned, but its ASK did not sign this CEK.
    expect(chainOutcome(full('Rome'))).toBe('chain-untrusted')
    // The Naples CA chain is refused when Naples is not an allowed product.
    expect(chainOutcome(full('Naples'), builtinSevRoots(['Rome', 'Milan']))).toBe('chain-untrusted')
  })

  it('malformed chains are evidence-malformed naming the certificate and the field', () => {
    const swapped = new Uint8Array(Buffer.concat(['pek', 'pdh', 'oca', 'cek'].map(naples)))
    expect(codeOf(() => parsePlatformChain(swapped))).toBe('evidence-malformed')
    expect(detailOf(() => parsePlatformChain(swapped))).toContain('PDH.pubKeyUsage')
    expect(codeOf(() => parsePlatformChain(NAPLES_CHAIN.subarray(0, 3 * PLATFORM_CERT_SIZE)))).toBe('evidence-malformed')
    const reserved = NAPLES_CHAIN.slice()
    reserved[PLATFORM_CERT_SIZE + PLATFORM_CERT.reserved.at] = 1
    expect(detailOf(() => parsePlatformChain(reserved))).toContain('PEK.reserved')
    const slot = NAPLES_CHAIN.slice()
    slot[PLATFORM_CERT.sig2.at + 100] = 1 // the PDH's unused second slot
    expect(detailOf(() => parsePlatformChain(slot))).toContain('PDH.sig2')
    const version = NAPLES_CHAIN.slice()
    version[2 * PLATFORM_CERT_SIZE] = 2
    expect(codeOf(() => parsePlatformChain(version))).toBe('evidence-unsupported')
    const curve = NAPLES_CHAIN.slice()
    curve[3 * PLATFORM_CERT_SIZE + PLATFORM_CERT.pubKey.at] = 3
    expect(detailOf(() => parsePlatformChain(curve))).toContain('CEK.pubKey.curve')
    const trailing = new Uint8Array(Buffer.concat([NAPLES_CHAIN, new Uint8Array(10)]))
    expect(codeOf(() => parsePlatformChain(trailing))).toBe('evidence-malformed')
  })
})

describe('synthetic chains: one defect each', () => {
  let good: SyntheticSev
  beforeAll(() => {
    good = syntheticSev()
  })
  const chainOf = (sev: SyntheticSev) => sev.chain
  const verifyWith = (bytes: Uint8Array, sev: SyntheticSev = good) => chainOutcome(bytes, [sev.root])

  it('the well-formed synthetic chain is accepted (so the defects below are what fails)', () => {
    expect(verifyWith(good.chain)).toBe('no-error')
    expect(verifyWith(good.fullChain)).toBe('no-error')
    expect(verifyPlatformChain(parsePlatformChain(good.chain), [good.root]).product).toBe('Synthetic')
  })

  it('CEK signed by another ASK', () => {
    const other = syntheticSev()
    const bad = syntheticSev({ ca: good, cekSigner: other.askKey.privateKey })
    expect(verifyWith(chainOf(bad))).toBe('chain-untrusted')
  })

  it('PEK without the CEK signature, or without the OCA signature', () => {
    const onlyOca = syntheticSev({ ca: good, pekSigners: (k) => [{ usage: 'OCA', algorithm: 'ECDSA_SHA256', key: k.oca.privateKey }] })
    const onlyCek = syntheticSev({ ca: good, pekSigners: (k) => [{ usage: 'CEK', algorithm: 'ECDSA_SHA256', key: k.cek.privateKey }] })
    expect(verifyWith(chainOf(onlyOca))).toBe('chain-untrusted')
    expect(verifyWith(chainOf(onlyCek))).toBe('chain-untrusted')
  })

  it('PEK "signed by the CEK" with the OCA key (usage label lies)', () => {
    const bad = syntheticSev({
      ca: good,
      pekSigners: (k) => [
        { usage: 'OCA', algorithm: 'ECDSA_SHA256', key: k.oca.privateKey },
        { usage: 'CEK', algorithm: 'ECDSA_SHA256', key: k.oca.privateKey },
      ],
    })
    expect(verifyWith(chainOf(bad))).toBe('chain-untrusted')
  })

  it('OCA not self-signed (signed by the CEK key)', () => {
    const bad = syntheticSev({ ca: good, ocaSigners: () => [{ usage: 'OCA', algorithm: 'ECDSA_SHA256', key: syntheticSev({ ca: good }).keys.oca.privateKey }] })
    expect(verifyWith(chainOf(bad))).toBe('chain-untrusted')
  })

  it('PDH signed by the OCA instead of the PEK, or labelled with another digest than the PEK uses', () => {
    const byOca = syntheticSev({ ca: good, pdhSigners: () => [{ usage: 'OCA', algorithm: 'ECDSA_SHA256', key: good.keys.oca.privateKey }] })
    const sha384 = syntheticSev({ ca: good, pdhSigners: (k) => [{ usage: 'PEK', algorithm: 'ECDSA_SHA384', key: k.pek.privateKey }] })
    expect(verifyWith(chainOf(byOca))).toBe('chain-untrusted')
    expect(verifyWith(chainOf(sha384))).toBe('chain-untrusted')
  })

  it('a PDH from another chip spliced into the chain', () => {
    const other = syntheticSev({ ca: good })
    const spliced = new Uint8Array(Buffer.concat([other.certs.pdh, good.certs.pek, good.certs.oca, good.certs.cek]))
    expect(verifyWith(spliced)).toBe('chain-untrusted')
  })

  it('a full chain whose ARK is not pinned, or whose ASK its ARK did not sign', () => {
    const foreign = syntheticSev()
    expect(verifyWith(foreign.fullChain)).toBe('chain-untrusted')
    const mixed = new Uint8Array(Buffer.concat([good.chain, foreign.ask, good.ark]))
    expect(verifyWith(mixed)).toBe('chain-untrusted')
  })

  it('an ARK not pinned cannot become a root', () => {
    expect(codeOf(() => sevRoot('X', good.ark, good.ask, [PINNED_SEV_ARK_SPKI_SHA256.Naples]))).toBe('chain-untrusted')
  })
})

describe('fuzzing the SEV certificate parser and chain verifier', () => {
  const ACCEPTABLE: readonly Outcome[] = ['evidence-malformed', 'evidence-unsupported', 'chain-untrusted']

  it('arbitrary bytes give only typed 4xx errors (never an exception of another kind)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 9000 }), fc.uint8Array({ minLength: 4 * PLATFORM_CERT_SIZE, maxLength: 4 * PLATFORM_CERT_SIZE })), (bytes) => {
        expect(ACCEPTABLE).toContain(chainOutcome(bytes))
      }),
      { numRuns: 300 },
    )
  })

  it('the real chain truncated at any offset is evidence-malformed', () => {
    fc.assert(
      fc.property(fc.nat(NAPLES_CHAIN.byteLength - 1), (n) => {
        expect(chainOutcome(NAPLES_CHAIN.subarray(0, n))).toBe('evidence-malformed')
      }),
      { numRuns: 300 },
    )
  })

  it('flipping any bit of the real chain is never accepted', () => {
    fc.assert(
      fc.property(fc.nat(NAPLES_CHAIN.byteLength * 8 - 1), (bit) => {
        const bytes = NAPLES_CHAIN.slice()
        bytes[bit >> 3]! ^= 1 << (bit & 7)
        expect(ACCEPTABLE).toContain(chainOutcome(bytes))
      }),
      { numRuns: 400 },
    )
  })

  it('fields overwritten with arbitrary values stay typed errors', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(NAPLES_CHAIN.byteLength - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const bytes = NAPLES_CHAIN.slice()
        for (const [at, value] of edits) bytes[at] = value
        const outcome = chainOutcome(bytes)
        expect([...ACCEPTABLE, 'no-error']).toContain(outcome)
        if (outcome === 'no-error') expect(Buffer.from(bytes).equals(NAPLES_CHAIN)).toBe(true)
      }),
      { numRuns: 300 },
    )
  })
})
