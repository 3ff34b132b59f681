import { describe, expect, it } from 'vitest'
import { nameViolations, validateNameRules, type NameRules, type RequestedNames } from '../../src/ca/index.js'
import { codeOf } from '../support/error-code.js'

const rules: NameRules = {
  allowedDnsNames: ['*.example.com', '{claims.instanceId}.vm.example.net'],
  allowedIpAddresses: ['10.0.0.0/8', '2001:db8::1'],
  allowedSubject: { O: ['Ultraviolet'], L: ['*'] },
}
const claims = { instanceId: 'i-0abc', measurement: 'c1c1' }
const req = (r: Partial<RequestedNames>): RequestedNames => ({ subject: [], dnsNames: [], ipAddresses: [], otherNames: [], ...r })

describe('profile name rules', () => {
  it('allow names inside the profile, with claim templates and CIDR blocks', () => {
    expect(
      nameViolations(
        req({
          subject: [{ type: 'CN', value: 'web.example.com' }, { type: 'O', value: 'Ultraviolet' }, { type: 'L', value: 'Belgrade' }],
          dnsNames: ['web.example.com', 'i-0abc.vm.example.net'],
          ipAddresses: ['10.9.8.7', '2001:db8::1'],
        }),
        rules,
        claims,
      ),
    ).toEqual([])
  })

  it('name every name outside the profile', () => {
    const v = nameViolations(
      req({
        subject: [{ type: 'CN', value: 'evil.org' }, { type: 'O', value: 'Other' }, { type: 'OU', value: 'x' }],
        dnsNames: ['a.b.example.com', 'example.com', 'i-other.vm.example.net', '*.example.com'],
        ipAddresses: ['192.168.1.1', '2001:db8::2'],
        otherNames: ['rfc822Name'],
      }),
      rules,
      claims,
    )
    expect(v).toHaveLength(10)
    expect(v.join('\n')).toMatch(/a\.b\.example\.com/)
    expect(v.join('\n')).toMatch(/wildcards are not issued/)
  })

  it('match nothing through a template whose claim is absent, and take claim text literally', () => {
    expect(nameViolations(req({ dnsNames: ['x.vm.example.net'] }), rules, {})).toHaveLength(1)
    expect(nameViolations(req({ dnsNames: ['a.vm.example.net'] }), rules, { instanceId: '*' })).toHaveLength(1)
  })

  it('refuse bad patterns when a profile is saved', () => {
    expect(codeOf(() => validateNameRules({ ...rules, allowedDnsNames: ['exa mple.com'] }))).toBe('bad-request')
    expect(codeOf(() => validateNameRules({ ...rules, allowedIpAddresses: ['10.0.0.0/33'] }))).toBe('bad-request')
    expect(codeOf(() => validateNameRules({ ...rules, allowedSubject: { XX: ['a'] } }))).toBe('bad-request')
    expect(codeOf(() => validateNameRules(rules))).toBe('no-error')
  })
})
