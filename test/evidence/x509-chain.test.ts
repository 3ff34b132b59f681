import 'reflect-metadata'
import { readFileSync } from 'node:fs'
import * as x509 from '@peculiar/x509'
import { beforeAll, describe, expect, test } from 'vitest'
import {
  checkValidityAt,
  parseCertificate,
  verifyCertificateChain,
  verifyChainStructure,
  type ParsedCertificate,
} from '../../src/evidence/x509-chain.js'
import { AMD_CERTIFICATES } from '../../src/evidence/snp/amd-certs.js'
import { PINNED_ARK_SPKI_SHA256, SNP_PRODUCTS } from '../../src/evidence/snp/products.js'
import { createCa, GEN_NOT_AFTER, GEN_NOT_BEFORE, rsaKeys, type CaKey } from '../generators/snp.js'
import { codeOf } from './snp/codes.js'

const pem = (p: string) => readFileSync(new URL(`../../reference-values/amd/${p}`, import.meta.url), 'utf8')
const derOf = (text: string) => new Uint8Array(Buffer.from(text.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'))
const NOW = new Date('2026-11-23T00:00:00Z')

describe('real AMD Milan chain', () => {
  const vcek = parseCertificate(new Uint8Array(readFileSync(new URL('../vectors/snp/trustee-milan-vcek/test-vcek.der', import.meta.url))))
  const ask = parseCertificate(derOf(pem('milan/ask-milan.pem')))
  const ark = parseCertificate(derOf(pem('milan/ark-milan.pem')))
  const pins = new Set([PINNED_ARK_SPKI_SHA256.Milan])

  test('VCEK → ASK → ARK verifies although the VCEK has no AKI', () => {
    expect(vcek.extensions.has('2.5.29.35')).toBe(false)
    expect(codeOf(() => verifyCertificateChain([vcek, ask, ark], { pinnedRootSpkiSha256: pins, now: NOW, signatureAlgorithms: ['RSA-PSS/SHA-384'] }))).toBe('ok')
  })

  test('facts', () => {
    expect(ark.isCa).toBe(true)
    expect(ark.keyUsage! & x509.KeyUsageFlags.keyCertSign).toBeTruthy()
    expect(ask.serialNumber).toBe('10001')
    expect(vcek.serialNumber).toBe('0')
    expect(vcek.signatureAlgorithm).toBe('RSA-PSS/SHA-384')
  })

  test('wrong pin, wrong algorithm allowlist, skipped intermediate, Genoa ARK: chain-untrusted', () => {
    const genoaArk = parseCertificate(derOf(pem('genoa/ark-genoa.pem')))
    expect(codeOf(() => verifyChainStructure([vcek, ask, ark], { pinnedRootSpkiSha256: new Set([PINNED_ARK_SPKI_SHA256.Genoa]) }))).toBe('chain-untrusted')
    expect(codeOf(() => verifyChainStructure([vcek, ask, ark], { pinnedRootSpkiSha256: pins, signatureAlgorithms: ['ECDSA/SHA-384'] }))).toBe('chain-untrusted')
    expect(codeOf(() => verifyChainStructure([vcek, ark], { pinnedRootSpkiSha256: pins }))).toBe('chain-untrusted')
    expect(codeOf(() => verifyChainStructure([vcek, ask, genoaArk], { pinnedRootSpkiSha256: new Set([PINNED_ARK_SPKI_SHA256.Genoa]) }))).toBe('chain-untrusted')
    expect(codeOf(() => verifyChainStructure([], { pinnedRootSpkiSha256: pins }))).toBe('chain-untrusted')
  })

  test('not a certificate: evidence-malformed', () => {
    expect(codeOf(() => parseCertificate(new Uint8Array([0x30, 0x00])))).toBe('evidence-malformed')
  })
})

describe('built-in vendor certificates', () => {
  test('equal reference-values/amd and chain to the pinned ARK of their product', () => {
    for (const product of SNP_PRODUCTS) {
      const lower = product.toLowerCase()
      const certs = AMD_CERTIFICATES[product]
      expect(certs.ark.trim()).toBe(pem(`${lower}/ark-${lower}.pem`).trim())
      expect(certs.ask.trim()).toBe(pem(`${lower}/ask-${lower}.pem`).trim())
      expect(certs.asvk.trim()).toBe(pem(`${lower}/asvk-${lower}.pem`).trim())
      const ark = parseCertificate(derOf(certs.ark))
      expect(ark.spkiSha256).toBe(PINNED_ARK_SPKI_SHA256[product])
      for (const inter of [certs.ask, certs.asvk]) {
        expect(codeOf(() => verifyCertificateChain([parseCertificate(derOf(inter)), ark], { pinnedRootSpkiSha256: new Set([ark.spkiSha256]), now: NOW }))).toBe('ok')
      }
    }
  })
})

describe('synthetic chains: one defect each', () => {
  let rootKeys: CryptoKeyPair
  let root: CaKey
  let interKeys: CryptoKeyPair
  let spareKeys: CryptoKeyPair
  let pins: Set<string>
  const parsed = (c: CaKey): ParsedCertificate => parseCertificate(c.der)
  const leafOf = async (issuer: CaKey, o: Parameters<typeof createCa>[1] = { name: 'leaf', isCa: false, keyUsage: null }) =>
    parsed(await createCa(spareKeys, o, issuer))

  beforeAll(async () => {
    rootKeys = await rsaKeys()
    interKeys = await rsaKeys()
    spareKeys = await rsaKeys()
    root = await createCa(rootKeys, { name: 'Root' })
    pins = new Set([parseCertificate(root.der).spkiSha256])
  })

  test('baseline verifies; validity bounds inclusive', async () => {
    const inter = await createCa(interKeys, { name: 'Inter' }, root)
    const chain = [await leafOf(inter), parsed(inter), parsed(root)]
    expect(codeOf(() => verifyCertificateChain(chain, { pinnedRootSpkiSha256: pins, now: NOW }))).toBe('ok')
    expect(codeOf(() => checkValidityAt(chain, GEN_NOT_BEFORE))).toBe('ok')
    expect(codeOf(() => checkValidityAt(chain, GEN_NOT_AFTER))).toBe('ok')
    expect(codeOf(() => checkValidityAt(chain, new Date(GEN_NOT_BEFORE.getTime() - 1)))).toBe('chain-untrusted')
    expect(codeOf(() => checkValidityAt(chain, new Date(GEN_NOT_AFTER.getTime() + 1)))).toBe('chain-untrusted')
  })

  const defects: [string, () => Promise<ParsedCertificate[]>][] = [
    ['issuer without basicConstraints CA', async () => {
      const inter = await createCa(interKeys, { name: 'Inter', isCa: false }, root)
      return [await leafOf(inter), parsed(inter), parsed(root)]
    }],
    ['issuer keyUsage without keyCertSign', async () => {
      const inter = await createCa(interKeys, { name: 'Inter', keyUsage: x509.KeyUsageFlags.digitalSignature }, root)
      return [await leafOf(inter), parsed(inter), parsed(root)]
    }],
    ['path length exceeded', async () => {
      const inter = await createCa(interKeys, { name: 'Inter', extraExtensions: [] }, root)
      const sub = await createCa(spareKeys, { name: 'Sub' }, inter)
      const rootPl0 = await createCa(rootKeys, { name: 'Root', extraExtensions: [] })
      // Root with pathLen 0 above two CAs.
      const root0 = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: '02', name: rootPl0.cert.subject, notBefore: GEN_NOT_BEFORE, notAfter: GEN_NOT_AFTER,
        signingAlgorithm: { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 } as Algorithm, keys: rootKeys,
        extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
      })
      return [await leafOf(sub), parsed(sub), parsed(inter), parseCertificate(new Uint8Array(root0.rawData))]
    }],
    ['unknown critical extension', async () => {
      const inter = await createCa(interKeys, { name: 'Inter', extraExtensions: [new x509.Extension('1.2.3.4.5', true, new Uint8Array([5, 0]))] }, root)
      return [await leafOf(inter), parsed(inter), parsed(root)]
    }],
    ['intermediate signed by another root with the same name', async () => {
      const rogue = await createCa(spareKeys, { name: 'Root' })
      const inter = await createCa(interKeys, { name: 'Inter' }, rogue)
      return [await leafOf(inter), parsed(inter), parsed(root)]
    }],
    ['issuer name mismatch', async () => {
      const inter = await createCa(interKeys, { name: 'Inter' }, root)
      const other = await createCa(interKeys, { name: 'Other' }, root)
      return [await leafOf(other), parsed(inter), parsed(root)]
    }],
    ['root not self-signed by its own key', async () => {
      const fake = await createCa(rootKeys, { name: 'Root' }, { keys: interKeys, cert: root.cert })
      const inter = await createCa(interKeys, { name: 'Inter' }, root)
      return [await leafOf(inter), parsed(inter), parsed(fake)]
    }],
  ]
  for (const [name, make] of defects) {
    test(`${name} → chain-untrusted`, async () => {
      const chain = await make()
      expect(codeOf(() => verifyChainStructure(chain, { pinnedRootSpkiSha256: pins }))).toBe('chain-untrusted')
    })
  }
})
