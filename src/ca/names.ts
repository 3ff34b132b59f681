import { BlockList, isIP } from 'node:net'
import type { Name as AsnName } from '@peculiar/asn1-x509'
import { KeybrokerError } from '../errors.js'

/**
 * Which names a certificate profile allows (issue 16, "Profiles"): the subject attributes and
 * the SANs of a request are checked against patterns, which may use the attested claims as
 * templates (`{claims.instanceId}.vm.example.com`). Pure: no I/O, no clock.
 *
 * Pattern language, one for DNS names and the CN:
 * - letters, digits, `-`, `.` match themselves (case-insensitively);
 * - `*` matches one or more characters of one DNS label (`[a-z0-9-]+`), never a dot;
 * - `{claims.NAME}` is replaced by the string claim NAME of the attestation result, matched
 *   literally; a pattern naming a claim the result lacks matches nothing.
 * Other subject attributes use the same templates; there `*` matches any non-empty value.
 * IP addresses are single addresses or CIDR blocks (IPv4 or IPv6).
 */
export interface NameRules {
  readonly allowedDnsNames: readonly string[]
  readonly allowedIpAddresses: readonly string[]
  /**
   * Subject attribute (short name, e.g. `CN`, `O`) → allowed value patterns. An attribute not
   * listed is refused; without a `CN` entry the CN must be one of the allowed DNS names or IPs.
   */
  readonly allowedSubject: Readonly<Record<string, readonly string[]>>
}

/** One subject attribute: short name (or OID when it has none) and its string value. */
export interface SubjectAttribute {
  readonly type: string
  readonly value: string
}

/** The requested names, as the CSR parser returns them. */
export interface RequestedNames {
  readonly subject: readonly SubjectAttribute[]
  readonly dnsNames: readonly string[]
  readonly ipAddresses: readonly string[]
  readonly otherNames: readonly string[]
}

/** X.520 / RFC 4519 attribute types a profile may name, by their usual short names. */
export const SUBJECT_ATTRIBUTES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.17': 'postalCode',
}
export const SUBJECT_ATTRIBUTE_NAMES: readonly string[] = Object.values(SUBJECT_ATTRIBUTES)

const TEMPLATE = /\{claims\.([A-Za-z][A-Za-z0-9_]{0,63})\}/g
const DNS_PATTERN = /^(?:[a-z0-9*-]|\{claims\.[A-Za-z][A-Za-z0-9_]{0,63}\})+(?:\.(?:[a-z0-9*-]|\{claims\.[A-Za-z][A-Za-z0-9_]{0,63}\})+)*$/i
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const MAX_VALUE_LENGTH = 256

/**
 * The subject's attributes in order. Multi-valued RDNs are refused (they have no order a
 * profile could state), as are values that are not strings.
 * @throws KeybrokerError `csr-malformed`.
 */
export function subjectAttributesOf(name: AsnName): SubjectAttribute[] {
  const out: SubjectAttribute[] = []
  for (const rdn of name) {
    if (rdn.length !== 1 || rdn[0] === undefined) throw new KeybrokerError('csr-malformed', 'multi-valued subject RDNs are not supported')
    const { type, value } = rdn[0]
    const text = value.anyValue === undefined ? value.toString() : undefined
    if (text === undefined || text.length > MAX_VALUE_LENGTH) throw new KeybrokerError('csr-malformed', `subject attribute ${type} is not a string`)
    out.push({ type: SUBJECT_ATTRIBUTES[type] ?? type, value: text })
  }
  return out
}

/**
 * Checks a profile's patterns when the profile is saved.
 * @throws KeybrokerError `bad-request` naming the first bad pattern.
 */
export function validateNameRules(rules: NameRules): void {
  for (const p of rules.allowedDnsNames) {
    if (p.length > 253 || !DNS_PATTERN.test(p)) throw new KeybrokerError('bad-request', `allowedDnsNames: ${JSON.stringify(p.slice(0, 80))} is not a DNS name pattern`)
  }
  for (const p of rules.allowedIpAddresses) ipRule(p)
  for (const [attr, patterns] of Object.entries(rules.allowedSubject)) {
    if (!SUBJECT_ATTRIBUTE_NAMES.includes(attr)) {
      throw new KeybrokerError('bad-request', `allowedSubject: unknown attribute ${JSON.stringify(attr.slice(0, 40))}; known: ${SUBJECT_ATTRIBUTE_NAMES.join(', ')}`)
    }
    for (const p of patterns) {
      if (p.length > MAX_VALUE_LENGTH) throw new KeybrokerError('bad-request', `allowedSubject.${attr}: a pattern is longer than ${MAX_VALUE_LENGTH}`)
    }
  }
}

/**
 * The requested names that the rules do not allow, each as a short client-safe sentence (it
 * repeats only what the client sent); empty when everything is allowed.
 */
export function nameViolations(req: RequestedNames, rules: NameRules, claims: Readonly<Record<string, string>>): string[] {
  const out: string[] = []
  const dns = rules.allowedDnsNames.flatMap((p) => compile(p, claims, 'dns'))
  const ips = ipMatcher(rules.allowedIpAddresses)
  for (const name of req.dnsNames) {
    if (!isDnsName(name)) out.push(`dNSName ${JSON.stringify(name.slice(0, 80))} is not a host name (wildcards are not issued)`)
    else if (!dns.some((r) => r.test(name))) out.push(`dNSName ${name} is not allowed by the profile`)
  }
  for (const ip of req.ipAddresses) {
    if (!ips(ip)) out.push(`iPAddress ${ip} is not allowed by the profile`)
  }
  for (const other of req.otherNames) out.push(`${other} SANs are not allowed`)
  for (const attr of req.subject) {
    const patterns = rules.allowedSubject[attr.type]
    if (patterns !== undefined) {
      const allowed = patterns.flatMap((p) => compile(p, claims, attr.type === 'CN' ? 'dns' : 'value'))
      if (!allowed.some((r) => r.test(attr.value))) out.push(`subject ${attr.type}=${JSON.stringify(attr.value.slice(0, 80))} is not allowed by the profile`)
    } else if (attr.type === 'CN') {
      const v = attr.value.toLowerCase()
      const ok = (isDnsName(v) && dns.some((r) => r.test(v))) || (isIP(attr.value) !== 0 && ips(attr.value))
      if (!ok) out.push(`subject CN=${JSON.stringify(attr.value.slice(0, 80))} is none of the allowed DNS names or IP addresses`)
    } else {
      out.push(`subject attribute ${attr.type} is not allowed by the profile`)
    }
  }
  return out
}

/** RFC 1123 host name: labels of letters, digits and inner hyphens, at most 253 characters. */
export function isDnsName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => DNS_LABEL.test(l))
}

function compile(pattern: string, claims: Readonly<Record<string, string>>, kind: 'dns' | 'value'): RegExp[] {
  let missing = false
  let source = ''
  let last = 0
  for (const m of pattern.matchAll(TEMPLATE)) {
    source += glob(pattern.slice(last, m.index), kind)
    const value = claims[m[1] ?? '']
    if (value === undefined) missing = true
    else source += escapeRegExp(value)
    last = m.index + m[0].length
  }
  source += glob(pattern.slice(last), kind)
  return missing ? [] : [new RegExp(`^${source}$`, kind === 'dns' ? 'i' : '')]
}

function glob(text: string, kind: 'dns' | 'value'): string {
  return text
    .split('*')
    .map(escapeRegExp)
    .join(kind === 'dns' ? '[a-z0-9-]+' : '.+')
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function ipRule(rule: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', prefixText, extra] = rule.split('/')
  const version = isIP(address)
  const max = version === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN
  if (version === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
    throw new KeybrokerError('bad-request', `allowedIpAddresses: ${JSON.stringify(rule.slice(0, 60))} is not an IP address or CIDR block`)
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' }
}

function ipMatcher(rules: readonly string[]): (ip: string) => boolean {
  const list = new BlockList()
  for (const r of rules) {
    const { address, prefix, family } = ipRule(r)
    list.addSubnet(address, prefix, family)
  }
  return (ip) => {
    const version = isIP(ip)
    return version !== 0 && list.check(ip, version === 4 ? 'ipv4' : 'ipv6')
  }
}
