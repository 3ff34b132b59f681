/** The real go-tpm-tools attestations of test/vectors/gotpm and test/vectors/cocos, and their trust. */
import { readFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { trustLookup } from '../tpm/vectors.js'

const dir = new URL('../../vectors/', import.meta.url)
export const readVector = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(path, dir)))

/** GCE Shielded VM (COS 85), nonce 0x9009, AK certificate by tpm_ek_intermediate_2. */
export const GCE_PB = (): Uint8Array => readVector('gotpm/gce-cos-85-nonce9009.pb')
/** Cocos vTPM attestation of 2025-03-12 (no AK certificate, no TEE part). */
export const COCOS_PB = (): Uint8Array => readVector('cocos/vtpm-attestation.2025-03-12.pb')

export const pemOf = (file: string): string => new X509Certificate(Buffer.from(readVector(`gotpm/ca-certs/${file}`))).toString()
export const GCE_ROOT = (): string => pemOf('tpm_ek_root_1.cer')
export const GCE_INTERMEDIATE = (): string => pemOf('tpm_ek_intermediate_2.crt')

/** AK ids (SHA-256 of the DER SPKI) from the vectors' README. */
export const GCE_AK_ID = '6a114d75ad6e7b75f7da33dead50f2e29bf509108646ced2e588bebc35f0d5b6'
export const COCOS_AK_ID = '457ef240031c2a65859d9512f747f4df76e739714f22f6ea6635ddf4da0a9b41'

/** Google's root and intermediate 2 registered as AK CAs (go-tpm-tools' `GceEKRoots` + `GceEKIntermediates`). */
export const gceTrust = () => trustLookup({ cas: { ak: [GCE_ROOT(), GCE_INTERMEDIATE()] } })
export const cocosTrust = () => trustLookup({ aks: { [COCOS_AK_ID]: { source: 'registered', name: 'cocos vTPM' } } })
