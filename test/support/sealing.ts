/**
 * The client side of a sealing-key recovery in TypeScript (what clevis-decrypt-keybroker does in
 * shell), for server tests: a disk's ephemeral key C, the blinding E, and the unblinding
 * K = Y − e·S, with @noble/curves as an implementation independent of the server's.
 */
import { p256, p521 } from '@noble/curves/nist.js'
import { calculateJwkThumbprint } from 'jose'
import type { EcPublicJwk, SealingCurve } from '../../src/secrets/index.js'

const NOBLE = { 'P-256': p256, 'P-521': p521 } as const
const BYTES = { 'P-256': 32, 'P-521': 66 } as const
export type Point = ReturnType<typeof p256.Point.fromAffine>

export function jwkOf(curve: SealingCurve, point: Point): EcPublicJwk {
  const { x, y } = point.toAffine()
  const enc = (v: bigint) => Buffer.from(v.toString(16).padStart(BYTES[curve] * 2, '0'), 'hex').toString('base64url')
  return { kty: 'EC', crv: curve, x: enc(x), y: enc(y) }
}

export function pointOf(jwk: { crv: string; x: string; y: string }): Point {
  const curve = jwk.crv === 'P-521' ? 'P-521' : 'P-256'
  const dec = (s: string) => BigInt(`0x${Buffer.from(s, 'base64url').toString('hex')}`)
  const p = NOBLE[curve].Point.fromAffine({ x: dec(jwk.x), y: dec(jwk.y) })
  p.assertValidity()
  return p
}

function randomScalar(curve: SealingCurve): bigint {
  return NOBLE[curve].Point.Fn.fromBytes(NOBLE[curve].utils.randomSecretKey())
}

/** A bound disk as the server never sees it: c and C (C sits in the JWE header). */
export interface Disk {
  readonly curve: SealingCurve
  readonly c: bigint
  readonly C: EcPublicJwk
  /** RFC 7638 thumbprint of C: the disk identity. */
  readonly id: string
}

export async function newDisk(curve: SealingCurve): Promise<Disk> {
  const c = randomScalar(curve)
  const C = jwkOf(curve, NOBLE[curve].Point.BASE.multiply(c))
  return { curve, c, C, id: await calculateJwkThumbprint(C, 'sha256') }
}

/** The blinded request member and what the client keeps to unblind. */
export function blind(disk: Disk): { x: EcPublicJwk; e: bigint } {
  const e = randomScalar(disk.curve)
  const X = pointOf(disk.C).add(NOBLE[disk.curve].Point.BASE.multiply(e))
  return { x: jwkOf(disk.curve, X), e }
}

/** K = Y − e·S, which must equal c·S (the ECDH value of the disk's JWE). */
export function unblind(curve: SealingCurve, y: { crv: string; x: string; y: string }, e: bigint, S: EcPublicJwk): Point {
  return pointOf(y).subtract(pointOf(S).multiply(e))
}

export function expectedK(disk: Disk, S: EcPublicJwk): Point {
  return pointOf(S).multiply(disk.c)
}
