/**
 * The SEV guest policy (SEV API spec 55766, §3 "Guest Policy"): a 32-bit value the PSP enforces
 * and binds into LAUNCH_START (POLICY_MAC) and LAUNCH_MEASURE. Bits (virtee/sev@9cf2adbffa209cc5becf7ff89ffdf624e7278ced
 * `src/launch/sev.rs` `PolicyFlags`): 0 NODBG, 1 NOKS, 2 ES, 3 NOSEND, 4 DOMAIN, 5 SEV, 6-15
 * reserved, 16-23 API_MAJOR and 24-31 API_MINOR (the minimum firmware API the guest accepts).
 * aleph's default policy is 0x1 (NODBG).
 */
import { KeybrokerError } from '../errors.js'

export const POLICY_FLAGS = {
  noDebug: 1 << 0,
  noKeySharing: 1 << 1,
  encryptedState: 1 << 2,
  noSend: 1 << 3,
  domain: 1 << 4,
  sev: 1 << 5,
} as const

const RESERVED_BITS = 0xffc0

export interface GuestPolicy {
  readonly value: number
  /** NODBG clear: the hypervisor may debug (decrypt) the guest. */
  readonly debug: boolean
  readonly flags: Readonly<Record<keyof typeof POLICY_FLAGS, boolean>>
  readonly minApiMajor: number
  readonly minApiMinor: number
}

/**
 * Decodes a guest policy.
 * @throws KeybrokerError `bad-request` for a value that is not a u32 or sets reserved bits 6-15
 *   (the PSP refuses such a policy at LAUNCH_START)
 */
export function parseGuestPolicy(value: number, what = 'policy'): GuestPolicy {
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffff_ffff) throw new KeybrokerError('bad-request', `${what}: not a 32-bit unsigned integer`)
  if ((value & RESERVED_BITS) !== 0) throw new KeybrokerError('bad-request', `${what}: reserved bits 6-15 are set (0x${value.toString(16)})`)
  const flags = Object.fromEntries(Object.entries(POLICY_FLAGS).map(([name, bit]) => [name, (value & bit) !== 0])) as Record<keyof typeof POLICY_FLAGS, boolean>
  return { value, debug: !flags.noDebug, flags, minApiMajor: (value >>> 16) & 0xff, minApiMinor: (value >>> 24) & 0xff }
}

/**
 * The policy as the PSP reads it: u32 little-endian (what POLICY_MAC and MEASURE cover). sevctl
 * builds POLICY_MAC from virtee/sev's `Policy::from(u32)`, which keeps only the known flag bits and
 * re-packs API_MAJOR/MINOR from nibbles; for the policies aleph uses (no reserved bits, no minimum
 * API) both give these bytes, and QEMU hands the PSP the integer as configured.
 */
export function policyBytes(value: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, value >>> 0, true)
  return out
}
