/**
 * Launching an aleph confidential VM with keybroker as its guest owner: the steps the aleph
 * SDK's `VmConfidentialClient` (with sevctl) runs on the user's machine, with keybroker doing
 * the guest owner's cryptography and holding the disk passphrase.
 *
 * 1. the CRN's platform chain (`GET /about/certificates`);
 * 2. a keybroker session for it: chain verified, GODH and LAUNCH_START blobs, sealed state;
 * 3. `…/confidential/initialize` with the blobs: the CRN starts the VM paused;
 * 4. `…/confidential/measurement` (retried while the VM is starting);
 * 5. keybroker checks the measurement and packages the secret;
 * 6. `…/confidential/inject_secret`: the PSP injects it, the VM resumes, GRUB opens the disk.
 */
import type { KeybrokerClient } from '@keybroker/client'
import { AlephCrnError, type AlephCrnClient, type CrnMeasurement } from './crn-client.js'

export interface AlephLaunchInput {
  readonly crn: AlephCrnClient
  readonly keybroker: KeybrokerClient
  /** The VM's item hash. */
  readonly vm: string
  /** The keybroker secret holding the disk passphrase. */
  readonly secret: string
  /** The VM message's `trusted_execution.policy` (default 0x1). */
  readonly policy: number
  readonly format?: 'aleph' | 'sevctl' | undefined
  /** How often to ask for the measurement while the VM starts, and how long to wait between. */
  readonly measurementAttempts?: number
  readonly measurementIntervalMs?: number
  /** Progress lines (no secrets). */
  readonly log?: (line: string) => void
}

export interface AlephLaunchResult {
  readonly vm: string
  readonly product: string
  readonly chipId: string
  /** The CRN's answer to inject_secret (`{"status": <QMP query-status>}`). */
  readonly crnStatus: unknown
}

/** Answers that may mean "not running yet" right after initialize (aleph-vm: 403 "Operation not running"). */
const RETRYABLE = new Set([0, 403, 404, 409, 425, 429, 500, 502, 503, 504])

export async function launchAlephVm(input: AlephLaunchInput): Promise<AlephLaunchResult> {
  const log = input.log ?? (() => undefined)
  const chain = await input.crn.certificates()
  log(`platform chain: ${chain.byteLength} bytes from ${input.crn.domain}`)
  const session = await input.keybroker.sevSession({
    platformCertificates: Buffer.from(chain).toString('base64'),
    policy: input.policy,
    secret: input.secret,
    vm: input.vm,
  })
  log(`session opened: ${session.platform.product} chip ${session.platform.chipId.slice(0, 16)}…, expires ${session.expiresAt}`)
  log(`initialize: ${await input.crn.initialize(input.vm, { godh: session.godh, session: session.session })}`)
  const measurement = await measurementOf(input, log)
  log(`measurement: API ${measurement.sev_info.api_major}.${measurement.sev_info.api_minor} build ${measurement.sev_info.build_id} policy 0x${measurement.sev_info.policy.toString(16)}`)
  const packet = await input.keybroker.sevLaunch({ state: session.state, measurement, vm: input.vm, ...(input.format === undefined ? {} : { format: input.format }) })
  log('keybroker released the secret packet')
  const crnStatus = await input.crn.injectSecret(input.vm, packet)
  log('secret injected; the VM resumes')
  return { vm: input.vm, product: session.platform.product, chipId: session.platform.chipId, crnStatus }
}

async function measurementOf(input: AlephLaunchInput, log: (line: string) => void): Promise<CrnMeasurement> {
  const attempts = input.measurementAttempts ?? 30
  for (let i = 1; ; i++) {
    try {
      return await input.crn.measurement(input.vm)
    } catch (err) {
      if (!(err instanceof AlephCrnError) || !RETRYABLE.has(err.status) || i >= attempts) throw err
      log(`measurement not available yet (${err.status || 'no answer'}); retry ${i}/${attempts - 1}`)
      await new Promise((resolve) => setTimeout(resolve, input.measurementIntervalMs ?? 2000))
    }
  }
}
