export { KeybrokerClient, KeybrokerClientError, generateAttestationKey, openSecret, reportDataFor } from './client.js'
export type { AttestationKey, HttpResponse, KeyAlgorithm, KeybrokerClientOptions } from './client.js'
