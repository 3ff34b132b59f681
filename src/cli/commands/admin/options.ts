/** Flag parsers shared by the admin resource commands (commander argParsers). */
import { InvalidArgumentError } from 'commander'

/** A repeatable flag: each use adds one value. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** A comma-separated list; repeatable too. */
export function commaList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')]
}

export function positiveInt(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer')
  return n
}

/** A measurement or digest in hex (even length, 0x allowed), lowercased. */
export function hexValue(value: string): string {
  const hex = value.replace(/^0x/i, '')
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new InvalidArgumentError('hex digits, an even number of them')
  return hex.toLowerCase()
}

/** `NAME=CEL expression`, a policy rule. */
export function ruleArg(value: string, previous: { name: string; expr: string }[] | undefined): { name: string; expr: string }[] {
  const at = value.indexOf('=')
  if (at <= 0) throw new InvalidArgumentError('NAME=EXPRESSION')
  return [...(previous ?? []), { name: value.slice(0, at).trim(), expr: value.slice(at + 1).trim() }]
}
