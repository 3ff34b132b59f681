export { KeybrokerClient, KeybrokerClientError, generateAttestationKey, openSecret, parseRetryAfter, reportDataFor } from './client.js'
export type { AttestationKey, HttpResponse, KeyAlgorithm, KeybrokerClientOptions, RetryOptions, SevSessionAnswer } from './client.js'
