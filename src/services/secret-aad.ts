/**
 * Additional authenticated data of a secret's envelope at rest: binds the ciphertext to its
 * name and version, so rows swapped between secrets or versions in the database do not open.
 */
export function secretAad(name: string, version: number): string {
  return `keybroker secret v1:${name}:${version}`
}

/**
 * Additional authenticated data of an audit key's envelope at rest (`audit_keys`, row `id`).
 * A KEK re-wrap must open and re-seal these rows with this AAD like secret versions.
 */
export function auditKeyAad(id: number): string {
  return `keybroker audit key v1:${id}`
}
