/**
 * Byte layouts of AMD SEV (the original SEV, before SNP) structures, as AMD's "Secure Encrypted
 * Virtualization API" specification (publication 55766) prints them: Appendix C (certificate
 * formats), §6.2 LAUNCH_START (session buffer), §6.5 LAUNCH_MEASURE, §6.6 LAUNCH_SECRET. Offsets
 * are cross-checked with the `#[repr(C)]` structs of
 * virtee/sev@9cf2adbffa209cc5becf7ff89ffdf624e7278ced (`src/certs/sev/sev/cert/v1/`,
 * `src/certs/sev/ca/cert/v1.rs`, `src/launch/sev.rs`). Every integer is little-endian.
 */
import type { Field, Layout } from '../evidence/reader.js'

/**
 * A platform certificate (PDH, PEK, OCA, CEK; also the guest owner's GODH): Appendix C.1.
 * virtee/sev `sev::cert::v1::Certificate` = Body { ver, firmware: {major, minor}, reserved: u16,
 * PubKey { usage, algo, key: union[1028] } } + two Signature { usage, algo, sig: [u8; 512] }.
 */
export const PLATFORM_CERT_SIZE = 0x824
export const PLATFORM_CERT = {
  version: { at: 0x000, size: 4 },
  apiMajor: { at: 0x004, size: 1 },
  apiMinor: { at: 0x005, size: 1 },
  reserved: { at: 0x006, size: 2 },
  pubKeyUsage: { at: 0x008, size: 4 },
  pubKeyAlgo: { at: 0x00c, size: 4 },
  pubKey: { at: 0x010, size: 0x404 },
  sig1: { at: 0x414, size: 0x208 },
  sig2: { at: 0x61c, size: 0x208 },
} as const satisfies Layout
/** The signatures cover bytes 0x000-0x413 (version through the public key). */
export const PLATFORM_CERT_SIGNED_SIZE = 0x414

/** An ECC public key inside `pubKey` (Appendix C.2.2/C.2.3): curve id, then QX and QY, 72 bytes each. */
export const ECC_PUBKEY = {
  curve: { at: 0x000, size: 4 },
  qx: { at: 0x004, size: 0x48 },
  qy: { at: 0x04c, size: 0x48 },
} as const satisfies Layout
/** Bytes after QY up to the end of the 0x404-byte key field: zero. */
export const ECC_PUBKEY_RESERVED: readonly [number, number] = [0x094, 0x404]

/** An RSA public key inside `pubKey` (Appendix C.2.1): modulus size in bits, exponent, modulus. */
export const RSA_PUBKEY = {
  modulusSize: { at: 0x000, size: 4 },
  pubExp: { at: 0x004, size: 0x200 },
  modulus: { at: 0x204, size: 0x200 },
} as const satisfies Layout

/** One signature slot (sig1 or sig2) of a platform certificate (Appendix C.3). */
export const SIGNATURE_SLOT = {
  usage: { at: 0x000, size: 4 },
  algo: { at: 0x004, size: 4 },
  value: { at: 0x008, size: 0x200 },
} as const satisfies Layout

/** An ECDSA signature inside a slot's 512-byte value: R and S, 72 bytes each, then zero. */
export const ECDSA_SIG = {
  r: { at: 0x000, size: 0x48 },
  s: { at: 0x048, size: 0x48 },
} as const satisfies Layout
export const ECDSA_SIG_RESERVED: readonly [number, number] = [0x090, 0x200]

/**
 * The fixed start of an AMD CA certificate (ARK, ASK), Appendix C.4; the public exponent, the
 * modulus and the signature follow, each `modulusSize / 8` bytes (virtee/sev
 * `ca::cert::v1::Preamble`, `Contents<[u8; 256 | 512]>`).
 */
export const CA_CERT_PREAMBLE_SIZE = 0x40
export const CA_CERT_PREAMBLE = {
  version: { at: 0x000, size: 4 },
  keyId: { at: 0x004, size: 16 },
  certifyingId: { at: 0x014, size: 16 },
  keyUsage: { at: 0x024, size: 4 },
  reserved: { at: 0x028, size: 16 },
  pubExpSize: { at: 0x038, size: 4 },
  modulusSize: { at: 0x03c, size: 4 },
} as const satisfies Layout

/**
 * The LAUNCH_START session buffer (§6.2; virtee/sev `launch::sev::Session`), which sevctl writes
 * base64-encoded to `<name>_session.b64` and QEMU passes to the PSP as `session-file`.
 */
export const SESSION_SIZE = 0x80
export const SESSION = {
  nonce: { at: 0x00, size: 16 },
  wrapTk: { at: 0x10, size: 32 },
  wrapIv: { at: 0x30, size: 16 },
  wrapMac: { at: 0x40, size: 32 },
  policyMac: { at: 0x60, size: 32 },
} as const satisfies Layout

/** What LAUNCH_MEASURE returns (§6.5; QEMU `query-sev-launch-measure`, base64): MEASURE ‖ MNONCE. */
export const LAUNCH_MEASURE_SIZE = 0x30
export const LAUNCH_MEASURE = {
  measure: { at: 0x00, size: 32 },
  mnonce: { at: 0x20, size: 16 },
} as const satisfies Layout

/** The LAUNCH_SECRET packet header (§6.6, "LAUNCH_SECRET Packet Header Buffer"; virtee/sev `launch::sev::Header`). */
export const SECRET_HEADER_SIZE = 0x34
export const SECRET_HEADER = {
  flags: { at: 0x00, size: 4 },
  iv: { at: 0x04, size: 16 },
  mac: { at: 0x14, size: 32 },
} as const satisfies Layout

/** `bytes[f]` as a subarray (no copy) of a buffer whose size the caller checked. */
export function view(bytes: Uint8Array, f: Field): Uint8Array {
  return bytes.subarray(f.at, f.at + f.size)
}
