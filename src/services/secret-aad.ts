/**
 * Additional authenticated data of a secret's envelope at rest: binds the ciphertext to its
 * name and version, so rows swapped between secrets or versions in the database do not open.
 */
export function secretAad(name: string, version: number): string {
  return `keybroker secret v1:${name}:${version}`
}
