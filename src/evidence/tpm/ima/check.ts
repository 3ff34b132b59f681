/**
 * IMA against the quote: the measurement list replayed in every quoted bank must give the quoted
 * value of each PCR it extends (normally 10), and at least one such PCR must be quoted. A list
 * with an entry appended after the quote therefore fails: clients read the list, quote, and read
 * it again until it did not change (src/clients/tpm/).
 */
import { EvidenceError } from '../../../errors.js'
import { equalBytes, fromHex, toHex } from '../../reader.js'
import { hashByName, type TpmHashName } from '../algorithms.js'
import type { ImaLog } from './parse.js'
import { replayIma } from './replay.js'

export interface ImaFile {
  readonly pcr: number
  readonly template: string
  readonly path: string
  /** `<algo>:<hex>` as IMA prints it (violations keep the file hash they list, marked `violation`). */
  readonly fileHash: string
  readonly violation: boolean
  readonly signed: boolean
}

export interface ImaMeasurements {
  readonly form: 'binary' | 'ascii'
  readonly entries: number
  readonly banks: readonly TpmHashName[]
  readonly verifiedPcrs: readonly number[]
  readonly files: readonly ImaFile[]
  readonly violations: number
}

/** @throws `event-log-mismatch` (the list's PCR is not quoted, or its replay differs) */
export function checkImaLog(log: ImaLog, quoted: ReadonlyMap<TpmHashName, ReadonlyMap<number, string>>, maxFiles: number): ImaMeasurements {
  const banks: TpmHashName[] = []
  const verified = new Set<number>()
  const extended = new Set(log.entries.map((e) => e.pcr))
  for (const [bankName, values] of quoted) {
    if (![...extended].some((pcr) => values.has(pcr))) continue
    const replayed = replayIma(log.entries, hashByName(bankName)!)
    for (const [pcr, value] of replayed) {
      const expected = values.get(pcr)
      if (expected === undefined) continue
      if (!equalBytes(value, fromHex(expected, 'pcr'))) {
        throw new EvidenceError('event-log-mismatch', `IMA measurement list replay does not give the quoted ${bankName} PCR ${pcr}`)
      }
      verified.add(pcr)
    }
    banks.push(bankName)
  }
  if (verified.size === 0) {
    throw new EvidenceError('event-log-mismatch', `the quote covers no PCR the IMA list extends (${[...extended].join(', ')})`)
  }
  let violations = 0
  const files: ImaFile[] = []
  for (const e of log.entries) {
    const violation = e.templateHash.every((b) => b === 0)
    if (violation) violations++
    if (files.length >= maxFiles || e.path === undefined || e.fileHash === undefined) continue
    files.push({
      pcr: e.pcr,
      template: e.template,
      path: e.path,
      fileHash: `${e.fileHashAlgorithm ?? 'unknown'}:${toHex(e.fileHash)}`,
      violation,
      signed: e.signature !== undefined,
    })
  }
  return { form: log.form, entries: log.entries.length, banks, verifiedPcrs: [...verified].sort((a, b) => a - b), files, violations }
}
