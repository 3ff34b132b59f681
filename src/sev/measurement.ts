/**
 * The SEV launch measurement (SEV API spec 55766, §6.5 LAUNCH_MEASURE, §6.5.2):
 *
 *     MEASURE = HMAC-SHA-256(TIK, 0x04 ‖ API_MAJOR ‖ API_MINOR ‖ BUILD ‖ POLICY (u32 LE) ‖ GCTX.LD ‖ MNONCE)
 *
 * GCTX.LD is the SHA-256 of everything LAUNCH_UPDATE_DATA/VMSA encrypted: the firmware flash
 * file (OVMF.fd; aleph's includes GRUB), then QEMU's kernel-hashes table when kernel, initrd and
 * command line are given, then the VMSAs of every vCPU under SEV-ES. As virtee/sev@9cf2adbffa209cc5becf7ff89ffdf624e7278ced
 * `src/session/mod.rs` `Session::verify`, virtee/sevctl@8b47f3a6b980525f4c1e9804661abbdda459e137
 * `src/measurement.rs` `build_cmd`/`build_digest`, and aleph-im/aleph-sdk-python@df8ed9b1df093de7c9814c26b3c3ef8434b635c9
 * `src/aleph/sdk/utils.py` `compute_confidential_measure` compute it.
 *
 * The API version, build and policy come from the untrusted host (QEMU `query-sev`); they are
 * authenticated only through this HMAC, whose key only the PSP and the guest owner hold.
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../errors.js'
import { equalBytes } from '../evidence/reader.js'
import { LAUNCH_MEASURE, LAUNCH_MEASURE_SIZE, view } from './layout.js'
import { policyBytes } from './policy.js'
import { guidTable } from './secret.js'
import { hmacSha256 } from './session.js'

/** What the PSP reports about itself and the guest (QEMU `query-sev`: api-major, api-minor, build-id, policy). */
export interface SevPlatformInfo {
  readonly apiMajor: number
  readonly apiMinor: number
  readonly build: number
  readonly policy: number
}

export const LAUNCH_DIGEST_BYTES = 32
export const MNONCE_BYTES = 16

/** The bytes MEASURE is the HMAC of. */
export function measureInput(info: SevPlatformInfo, launchDigest: Uint8Array, mnonce: Uint8Array): Uint8Array {
  if (launchDigest.byteLength !== LAUNCH_DIGEST_BYTES) throw new EvidenceError('evidence-malformed', `launch digest: ${LAUNCH_DIGEST_BYTES} bytes expected`)
  if (mnonce.byteLength !== MNONCE_BYTES) throw new EvidenceError('evidence-malformed', `mnonce: ${MNONCE_BYTES} bytes expected`)
  for (const [name, v] of [['apiMajor', info.apiMajor], ['apiMinor', info.apiMinor], ['build', info.build]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new EvidenceError('evidence-malformed', `${name}: not a byte`)
  }
  return new Uint8Array(Buffer.concat([new Uint8Array([0x04, info.apiMajor, info.apiMinor, info.build]), policyBytes(info.policy), launchDigest, mnonce]))
}

/** MEASURE for a TIK, the platform info and a launch digest. */
export function computeMeasure(tik: Uint8Array, info: SevPlatformInfo, launchDigest: Uint8Array, mnonce: Uint8Array): Uint8Array {
  return hmacSha256(tik, measureInput(info, launchDigest, mnonce))
}

export interface LaunchMeasure {
  readonly measure: Uint8Array
  readonly mnonce: Uint8Array
}

/**
 * Splits the 48-byte LAUNCH_MEASURE blob.
 * @throws EvidenceError `evidence-malformed` for another size
 */
export function parseLaunchMeasure(bytes: Uint8Array): LaunchMeasure {
  if (bytes.byteLength !== LAUNCH_MEASURE_SIZE) throw new EvidenceError('evidence-malformed', `launch_measure: ${bytes.byteLength} bytes, MEASURE ‖ MNONCE is ${LAUNCH_MEASURE_SIZE}`)
  return { measure: view(bytes, LAUNCH_MEASURE.measure).slice(), mnonce: view(bytes, LAUNCH_MEASURE.mnonce).slice() }
}

/**
 * The index of the launch digest among `candidates` that the PSP's MEASURE was computed over,
 * or -1. Each comparison is constant-time; which candidate matched is not secret (they are the
 * registered reference values).
 */
export function matchLaunchMeasure(tik: Uint8Array, info: SevPlatformInfo, launchMeasure: LaunchMeasure, candidates: readonly Uint8Array[]): number {
  return candidates.findIndex((digest) => digest.byteLength === LAUNCH_DIGEST_BYTES && equalBytes(computeMeasure(tik, info, digest, launchMeasure.mnonce), launchMeasure.measure))
}

/** QEMU's kernel-hashes table GUIDs (sevctl `build_kernel_table`; QEMU `target/i386/sev.c`). */
export const KERNEL_HASHES_GUIDS = {
  table: '9438d606-4f22-4cc9-b479-a793d411fd21',
  kernel: '4de79437-abd2-427f-b835-d5b172d2045b',
  initrd: '44baf731-3a2f-4bd7-9af1-41e29169781d',
  cmdline: '97d02dd8-bd20-4c94-aa78-e7714d36ab2a',
} as const

const sha256 = (b: Uint8Array | string): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

/**
 * The kernel-hashes table QEMU adds to the measured firmware for direct kernel boot: entries
 * (GUID, u16 length, SHA-256) for the command line (with its trailing NUL), the initrd and the
 * kernel, in that order, under the table GUID, padded to 16 bytes (sevctl `build_kernel_table`).
 */
export function kernelHashesTable(parts: { readonly kernel: Uint8Array; readonly initrd: Uint8Array; readonly cmdline: string }): Uint8Array {
  return guidTable(
    KERNEL_HASHES_GUIDS.table,
    [
      { guid: KERNEL_HASHES_GUIDS.cmdline, data: sha256(Buffer.concat([Buffer.from(parts.cmdline, 'utf8'), Buffer.from([0])])) },
      { guid: KERNEL_HASHES_GUIDS.initrd, data: sha256(parts.initrd) },
      { guid: KERNEL_HASHES_GUIDS.kernel, data: sha256(parts.kernel) },
    ],
    { lengthBytes: 2, nulTerminated: false, paddedLength: false },
  )
}

export interface LaunchDigestInput {
  /** The firmware flash file (OVMF.fd), whole. */
  readonly firmware: Uint8Array
  /** Direct kernel boot: the files and the command line QEMU is given. */
  readonly kernel?: { readonly kernel: Uint8Array; readonly initrd: Uint8Array; readonly cmdline: string }
  /** SEV-ES: the boot vCPU's VMSA, the other vCPUs' VMSA, and the number of vCPUs (sevctl `build_cpu_state`). */
  readonly vmsa?: { readonly cpu0: Uint8Array; readonly cpu1: Uint8Array; readonly cpus: number }
}

/** GCTX.LD: SHA-256(firmware ‖ [kernel-hashes table] ‖ [VMSAs]), as sevctl `build_digest`. */
export function launchDigest(input: LaunchDigestInput): Uint8Array {
  const h = createHash('sha256').update(input.firmware)
  if (input.kernel !== undefined) h.update(kernelHashesTable(input.kernel))
  if (input.vmsa !== undefined) {
    h.update(input.vmsa.cpu0)
    for (let i = 1; i < input.vmsa.cpus; i++) h.update(input.vmsa.cpu1)
  }
  return new Uint8Array(h.digest())
}
