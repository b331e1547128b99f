import { X509Certificate } from 'node:crypto'
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls'
import { HaulError } from '@haul/core'

/** Extra CA certificates: PEM text (one certificate or a bundle), or several. */
export type CaCertificates = string | Buffer | ReadonlyArray<string | Buffer>

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/**
 * The certificates in `ca`, one PEM each, every one parsed so that a wrong file fails here with
 * HAUL_USAGE instead of as an unexplained verification failure on the first connection.
 */
export function parseCaCertificates(ca: CaCertificates): string[] {
  const texts = (typeof ca === 'string' || Buffer.isBuffer(ca) ? [ca] : [...ca]).map((c) => (typeof c === 'string' ? c : c.toString('latin1')))
  const pems: string[] = []
  for (const text of texts) {
    const found = text.match(PEM_CERTIFICATE) ?? []
    if (found.length === 0) throw new HaulError('HAUL_USAGE', 'The CA certificates (ca, --cacert) hold no PEM certificate ("-----BEGIN CERTIFICATE-----"); give the CA certificate in PEM form.')
    for (const pem of found) {
      try {
        new X509Certificate(pem)
      } catch (err) {
        throw new HaulError('HAUL_USAGE', `A CA certificate (ca, --cacert) is not a valid PEM certificate: ${err instanceof Error ? err.message : String(err)}.`, { cause: err })
      }
      pems.push(pem)
    }
  }
  return pems
}

/**
 * A TLS context that trusts Node's default store plus `pems`. Node replaces its whole store
 * when given a `ca` list, which would drop the certificates of NODE_EXTRA_CA_CERTS (a corporate
 * proxy's, say); adding to a default context keeps them, and the context is built once for every
 * connection instead of re-parsing the roots each time.
 */
export function secureContextWith(pems: readonly string[]): SecureContext {
  const context = createSecureContext()
  const native = (context as { context?: { addCACert?: (pem: string) => void } }).context
  if (typeof native?.addCACert !== 'function') return createSecureContext({ ca: [...rootCertificates, ...pems] })
  for (const pem of pems) native.addCACert(pem)
  return context
}
