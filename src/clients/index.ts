// The TypeScript client lives in its own package (packages/client, `@keybroker/client`), which
// depends on jose only; `keybroker/client` and the in-repo users import it through here.
export {
  KeybrokerClient,
  KeybrokerClientError,
  KeybrokerConnectionError,
  KeybrokerResponseError,
  encodeReportData,
  generateAttestationKey,
  openSecret,
  reportDataFor,
  sampleEvidence,
} from '@keybroker/client'
export type {
  AttestBody,
  Attestation,
  AttestationKey,
  AttestResult,
  AttestResultWithoutToken,
  Challenge,
  Evidence,
  EvidenceProvider,
  FailedRule,
  KeyAlgorithm,
  KeybrokerClientOptions,
  Problem,
  ReleasedSecret,
  ReportDataEncodings,
  SevSessionAnswer,
} from '@keybroker/client'
