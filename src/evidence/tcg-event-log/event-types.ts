/**
 * Event types of the TCG PC Client Platform Firmware Profile (rev. 1.06, section 10.4.1
 * "Event Types") and the TCG algorithm identifiers used in event log digests (TCG Algorithm
 * Registry rev. 1.34).
 */
export const EV_NO_ACTION = 0x00000003

export const EVENT_TYPE_NAMES: Readonly<Record<number, string>> = {
  0x00000000: 'EV_PREBOOT_CERT',
  0x00000001: 'EV_POST_CODE',
  0x00000002: 'EV_UNUSED',
  0x00000003: 'EV_NO_ACTION',
  0x00000004: 'EV_SEPARATOR',
  0x00000005: 'EV_ACTION',
  0x00000006: 'EV_EVENT_TAG',
  0x00000007: 'EV_S_CRTM_CONTENTS',
  0x00000008: 'EV_S_CRTM_VERSION',
  0x00000009: 'EV_CPU_MICROCODE',
  0x0000000a: 'EV_PLATFORM_CONFIG_FLAGS',
  0x0000000b: 'EV_TABLE_OF_DEVICES',
  0x0000000c: 'EV_COMPACT_HASH',
  0x0000000d: 'EV_IPL',
  0x0000000e: 'EV_IPL_PARTITION_DATA',
  0x0000000f: 'EV_NONHOST_CODE',
  0x00000010: 'EV_NONHOST_CONFIG',
  0x00000011: 'EV_NONHOST_INFO',
  0x00000012: 'EV_OMIT_BOOT_DEVICE_EVENTS',
  0x00000013: 'EV_POST_CODE2',
  0x80000001: 'EV_EFI_VARIABLE_DRIVER_CONFIG',
  0x80000002: 'EV_EFI_VARIABLE_BOOT',
  0x80000003: 'EV_EFI_BOOT_SERVICES_APPLICATION',
  0x80000004: 'EV_EFI_BOOT_SERVICES_DRIVER',
  0x80000005: 'EV_EFI_RUNTIME_SERVICES_DRIVER',
  0x80000006: 'EV_EFI_GPT_EVENT',
  0x80000007: 'EV_EFI_ACTION',
  0x80000008: 'EV_EFI_PLATFORM_FIRMWARE_BLOB',
  0x80000009: 'EV_EFI_HANDOFF_TABLES',
  0x8000000a: 'EV_EFI_PLATFORM_FIRMWARE_BLOB2',
  0x8000000b: 'EV_EFI_HANDOFF_TABLES2',
  0x8000000c: 'EV_EFI_VARIABLE_BOOT2',
  0x8000000d: 'EV_EFI_GPT_EVENT2',
  0x80000010: 'EV_EFI_HCRTM_EVENT',
  0x800000e0: 'EV_EFI_VARIABLE_AUTHORITY',
  0x800000e1: 'EV_EFI_SPDM_FIRMWARE_BLOB',
  0x800000e2: 'EV_EFI_SPDM_FIRMWARE_CONFIG',
}

/** The name of an event type, or its hex value when unnamed. */
export function eventTypeName(type: number): string {
  return EVENT_TYPE_NAMES[type] ?? `0x${type.toString(16).padStart(8, '0')}`
}

/** TPM_ALG_ID values of digest algorithms, with their digest size and node:crypto name. */
export const TPM_ALG = {
  sha1: 0x0004,
  sha256: 0x000b,
  sha384: 0x000c,
  sha512: 0x000d,
  sm3_256: 0x0012,
} as const

export const DIGEST_ALGORITHMS: ReadonlyMap<number, { readonly name: string; readonly size: number; readonly hash: string }> = new Map([
  [TPM_ALG.sha1, { name: 'sha1', size: 20, hash: 'sha1' }],
  [TPM_ALG.sha256, { name: 'sha256', size: 32, hash: 'sha256' }],
  [TPM_ALG.sha384, { name: 'sha384', size: 48, hash: 'sha384' }],
  [TPM_ALG.sha512, { name: 'sha512', size: 64, hash: 'sha512' }],
  [TPM_ALG.sm3_256, { name: 'sm3_256', size: 32, hash: 'sm3' }],
])
