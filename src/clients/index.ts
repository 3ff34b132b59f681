export { KeybrokerClient, KeybrokerClientError, generateAttestationKey, openSecret, reportDataFor } from './client.js'
export type { AttestationKey, HttpResponse, KeyAlgorithm, KeybrokerClientOptions, SevSessionAnswer } from './client.js'
