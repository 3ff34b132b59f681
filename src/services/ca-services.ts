import { lazyImport } from '../lazy-import.js'

/**
 * The CA services (issue 16: CAs, profiles, issuance, CRL and OCSP), loaded with the first
 * certificate request, CA admin call or measurement revocation that revokes certificates, not
 * at start: a deployment that issues no certificates never loads @peculiar/x509's ASN.1 schemas
 * for them (README, "Start-up and memory"). The one door to `./ca/` for code outside it, except
 * the key AAD the envelope store needs at start (`./ca/ca-key-aad.ts`).
 */
export const caServices = lazyImport(() => import('./ca/index.js'))
