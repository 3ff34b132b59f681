/**
 * Holds a keybroker's attestation slots (KEYBROKER_MAX_IN_FLIGHT_ATTESTATIONS=1 in the tests that
 * use it) with a half-sent upload, so that the next attestation is shed.
 */
import { request } from 'node:https'
import type { HttpResponse } from './http.js'
import type { TestKeybroker } from './keybroker.js'

export interface HeldSlot {
  /** The attestation that was shed while the upload held the slot. */
  readonly probe: HttpResponse
  /** Sends the rest of the upload (the held request then gets its answer). */
  finish(): void
  /** Settles when the held request has its answer, or failed. */
  readonly done: Promise<void>
}

/**
 * Starts an upload of an attestation and sends the rest only when `finish` is called; returns
 * once a probe attestation is shed while it is unanswered. A probe is itself an attestation: when
 * the upload arrives while a probe holds the one slot (likelier on PostgreSQL, where the probe's
 * refusal is audited before it answers), the upload is the one shed, and it is sent again.
 */
export async function holdAttestationSlot(kb: TestKeybroker): Promise<HeldSlot> {
  const body = Buffer.from(JSON.stringify({ nonce: 'x', evidence: { type: 'sample' }, publicKey: {} }))
  for (let attempt = 0; attempt < 20; attempt++) {
    let finished = false
    const req = request(`${kb.url}/v1/attest`, {
      method: 'POST',
      ca: kb.server.caPem,
      agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.byteLength) },
    })
    const done = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        res.resume()
        res.on('end', () => {
          finished = true
          resolve()
        })
      })
      req.on('error', () => {
        finished = true
        resolve()
      })
    })
    req.write(body.subarray(0, 10))
    // Held once a probe is shed while the upload is still unanswered.
    for (let i = 0; i < 100 && !finished; i++) {
      const probe = await kb.raw('POST', '/v1/attest', '{}', { 'Content-Type': 'application/json' })
      if (probe.status === 503 && !finished) return { probe, finish: () => req.end(body.subarray(10)), done }
      await new Promise((r) => setTimeout(r, 20))
    }
    req.destroy()
    await done
  }
  throw new Error('could not hold the attestation slot')
}
