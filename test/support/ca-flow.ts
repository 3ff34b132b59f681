import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JWK } from 'jose'
import { expect } from 'vitest'
import { computeBinding } from '../../src/tokens/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { TestKeybroker } from './keybroker.js'

/**
 * An attested workload for the CA tests, with real tools: its key is made by openssl (so the
 * same PEM serves the CSR and a TLS server), it attests with sample evidence bound to that key
 * and gets an EAR.
 */
export interface Workload {
  readonly keyFile: string
  readonly privateKey: KeyObject
  readonly publicJwk: JWK
}

export function openssl(dir: string, ...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/**
 * openssl run asynchronously, stdout and stderr joined, with its exit status: for commands that
 * talk to the keybroker of the same process (a synchronous child would block its event loop).
 */
export function opensslAsync(dir: string, ...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('openssl', args, { cwd: dir, timeout: 30_000 })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (out += d.toString()))
    p.on('close', (status) => resolve({ status, out }))
  })
}

/** openssl with stdout and stderr joined, and its exit status (for commands that report on stderr). */
export function opensslRun(dir: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

export function newWorkload(dir: string, name: string, curve: 'P-256' | 'P-384' = 'P-256'): Workload {
  const keyFile = join(dir, `${name}.key`)
  openssl(dir, 'genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-out', keyFile)
  const privateKey = createPrivateKey(readFileSync(keyFile))
  const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: 'jwk' })
  return { keyFile, privateKey, publicJwk: { kty, crv, x, y } }
}

/** A CSR (PEM) for the workload's key made by openssl. */
export function csrFor(dir: string, w: Workload, subject: string, sans: string, extra: string[] = []): string {
  const out = join(dir, `${Math.random().toString(36).slice(2)}.csr`)
  openssl(dir, 'req', '-new', '-key', w.keyFile, '-subj', subject, ...(sans === '' ? [] : ['-addext', `subjectAltName=${sans}`]), ...extra, '-out', out)
  return readFileSync(out, 'utf8')
}

/** Sample evidence bound to nonce + the workload's key. */
export async function sampleEvidence(nonce: string, w: Workload, measurement: string) {
  return { type: 'sample', measurement, reportData: toBase64Url(await computeBinding(nonce, w.publicJwk)) }
}

/** Attests the workload and returns its EAR (and the whole answer for checks). */
export async function attestWorkload(kb: TestKeybroker, w: Workload, measurement: string, extra: Record<string, unknown> = {}) {
  const { nonce } = await kb.client.challenge()
  const body = { nonce, evidence: await sampleEvidence(nonce, w, measurement), publicKey: w.publicJwk, ...extra }
  const res = await kb.raw('POST', '/v1/attest', JSON.stringify(body), { 'Content-Type': 'application/json' })
  return { status: res.status, body: JSON.parse(res.body) }
}

export async function earFor(kb: TestKeybroker, w: Workload, measurement: string): Promise<string> {
  const r = await attestWorkload(kb, w, measurement)
  expect(r.status).toBe(200)
  return r.body.token as string
}

/** A request to the running keybroker with a bytes answer (fetch: the tests run it over plain HTTP). */
export async function fetchBytes(kb: TestKeybroker, method: string, path: string, body?: Uint8Array | string, headers: Record<string, string> = {}) {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : Buffer.from(body)
  const res = await fetch(new URL(path, kb.url), { method, headers, ...(payload === undefined ? {} : { body: payload }) })
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) }
}
