/**
 * Synthetic CoRIMs for tests, shaped as Cocos' corimgen writes them
 * (ultravioletrs/cocos `pkg/attestation/corimgen/generator.go`: tag id `snp-tag-<uuid>` /
 * `tdx-tag-<uuid>`, a class UUID, UUID-keyed measurements with one digest each, algorithm 1),
 * optionally with TPM integrity registers, and COSE_Sign1 signing (RFC 9052) with a node key.
 * No Cocos-generated CoRIM file is public (corimgen writes them at run time).
 */
import { createHash, randomUUID, sign, type KeyObject } from 'node:crypto'
import { encode, Tag } from 'cbor2'

/** cbor2 writes a Node Buffer as a typed array (RFC 8746 tag); CoRIM byte strings are plain. */
const bytes = (b: Uint8Array): Uint8Array => new Uint8Array(b)

const uuid = (): Tag => new Tag(37, bytes(Buffer.from(randomUUID().replaceAll('-', ''), 'hex')))

/** corimgen's instance: UUIDv5(NameSpaceOID, product). */
export function productUuid(product: string): Uint8Array {
  const h = createHash('sha1').update(Buffer.from('6ba7b8129dad11d180b400c04fd430c8', 'hex')).update(product).digest().subarray(0, 16)
  h[6] = (h[6]! & 0x0f) | 0x50
  h[8] = (h[8]! & 0x3f) | 0x80
  return new Uint8Array(h)
}

const measurement = (digestHex: string, svn?: number): Map<number, unknown> =>
  new Map<number, unknown>([
    [0, uuid()],
    [1, new Map<number, unknown>([...(svn === undefined ? [] : [[1, svn] as [number, unknown]]), [2, [[1, bytes(Buffer.from(digestHex, 'hex'))]]]])],
  ])

export interface CocosCorimInput {
  readonly platform: 'snp' | 'tdx'
  /** SNP MEASUREMENT or TDX MRTD, hex. */
  readonly measurement: string
  readonly product?: string
  readonly svn?: number
  readonly mrSeam?: string
  readonly rtmrs?: readonly string[]
  /** Extra TPM PCRs as integrity registers: bank alg id (1 sha-256, 7 sha-384) → index → hex. */
  readonly pcrs?: Readonly<Record<number, Readonly<Record<number, string>>>>
  readonly validity?: { readonly notBefore: Date; readonly notAfter: Date }
}

/** The unsigned CoRIM (#6.501) bytes. */
export function cocosCorim(input: CocosCorimInput): Uint8Array {
  const env = new Map<number, unknown>([[0, new Map([[0, uuid()]])]])
  if (input.product !== undefined) env.set(1, new Tag(37, productUuid(input.product)))
  const ms = [measurement(input.measurement, input.svn)]
  if (input.platform === 'tdx') {
    if (input.mrSeam !== undefined) ms.push(measurement(input.mrSeam))
    for (const r of input.rtmrs ?? []) ms.push(measurement(r))
  }
  const triples: unknown[] = [[env, ms]]
  if (input.pcrs !== undefined) {
    const regs = new Map<number, unknown[]>()
    for (const [alg, values] of Object.entries(input.pcrs)) {
      for (const [i, v] of Object.entries(values)) regs.set(Number(i), [...(regs.get(Number(i)) ?? []), [Number(alg), bytes(Buffer.from(v, 'hex'))]])
    }
    triples.push([new Map([[0, new Map([[0, uuid()]])]]), [new Map([[1, new Map([[14, regs]])]])]])
  }
  const comid = new Map<number, unknown>([
    [1, new Map<number, unknown>([[0, `${input.platform}-tag-${randomUUID()}`], [1, 0]])],
    [4, new Map([[0, triples]])],
  ])
  const corim = new Map<number, unknown>([
    [0, `${input.platform}-corim-${randomUUID()}`],
    [1, [new Tag(506, encode(comid))]],
  ])
  if (input.validity !== undefined) {
    corim.set(4, new Map([[0, new Tag(1, Math.floor(input.validity.notBefore.getTime() / 1000))], [1, new Tag(1, Math.floor(input.validity.notAfter.getTime() / 1000))]]))
  }
  return encode(new Tag(501, corim))
}

/** COSE_Sign1 (#6.18) over `payload` with an ES256 key (protected: alg, content type, kid, corim-meta). */
export function signCorim(payload: Uint8Array, key: KeyObject, meta: { readonly signer?: string; readonly notBefore?: Date; readonly notAfter?: Date } = {}): Uint8Array {
  const validity = new Map<number, unknown>()
  if (meta.notBefore !== undefined) validity.set(0, new Tag(1, Math.floor(meta.notBefore.getTime() / 1000)))
  if (meta.notAfter !== undefined) validity.set(1, new Tag(1, Math.floor(meta.notAfter.getTime() / 1000)))
  const corimMeta = new Map<number, unknown>([[0, new Map([[0, meta.signer ?? 'keybroker tests']])]])
  if (validity.size > 0) corimMeta.set(1, validity)
  const protectedHeader = encode(new Map<number, unknown>([[1, -7], [3, 'application/rim+cbor'], [4, bytes(Buffer.from('test'))], [8, encode(corimMeta)]]))
  const toBeSigned = encode(['Signature1', protectedHeader, new Uint8Array(0), payload])
  const signature = sign('sha256', toBeSigned, { key, dsaEncoding: 'ieee-p1363' })
  return encode(new Tag(18, [protectedHeader, new Map(), payload, bytes(signature)]))
}
