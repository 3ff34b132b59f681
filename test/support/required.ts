/**
 * Required switches: a check that needs a tool the machine may lack skips where the tool is
 * missing, but fails its whole test file at load time when CI says the tool must be there (.ci/run
 * sets every switch), so a broken CI install cannot show green.
 *
 * | switch                              | what must be present                                           |
 * | ----------------------------------- | -------------------------------------------------------------- |
 * | KEYBROKER_TEST_REQUIRE_INTEROP=1    | python3 cryptography and jwcrypto, the latchset `jose` CLI, openssl with SHA-3 and xxd |
 * | KEYBROKER_TEST_REQUIRE_POSTGRES=1   | DATABASE_URL (every database suite then also runs on PostgreSQL) |
 * | KEYBROKER_TEST_REQUIRE_ROOT=1       | uid 0, for the chroot unlock inside built initramfs trees      |
 * | KEYBROKER_TEST_REQUIRE_SWTPM=1      | swtpm, swtpm-tools and tpm2-tools (test/support/swtpm.ts)      |
 * | KEYBROKER_TEST_REQUIRE_SANITIZERS=1 | gcc with AddressSanitizer and UBSan (test/clients/attesters)   |
 * | KEYBROKER_TEST_REQUIRE_PROMTOOL=1   | promtool (Debian package prometheus), to check /metrics        |
 */
export type RequiredSwitch = 'KEYBROKER_TEST_REQUIRE_INTEROP' | 'KEYBROKER_TEST_REQUIRE_POSTGRES' | 'KEYBROKER_TEST_REQUIRE_ROOT' | 'KEYBROKER_TEST_REQUIRE_PROMTOOL'

/** Whether CI (or the developer) set `name` to 1. */
export function isRequired(name: RequiredSwitch): boolean {
  return process.env[name] === '1'
}

/**
 * Returns `available`; throws when it is false and `name` is set. Call it at module level so the
 * test file fails when it loads, naming what is missing.
 */
export function requireWhen(name: RequiredSwitch, what: string, available: boolean): boolean {
  if (!available && isRequired(name)) throw new Error(`${what} is required (${name}=1) but missing`)
  return available
}
