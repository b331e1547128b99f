import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { SecureContext } from 'node:tls'
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
 * A TLS context that trusts Node's default store plus `pems`, built once for every connection
 * of a transport (instead of parsing the roots again on each). Node's default store is its
 * bundled roots plus the file named by NODE_EXTRA_CA_CERTS, read at start-up; but a context
 * given CAs of its own drops that file (Node 20 has no API to list it), so it is read again here:
 * the corporate proxy's CA that someone put there must keep working beside `ca`.
 */
export function secureContextWith(pems: readonly string[]): SecureContext {
  // node:tls is loaded only by a transport that needs a context of its own, not at every start.
  const { createSecureContext, rootCertificates } = createRequire(import.meta.url)('node:tls') as typeof import('node:tls')
  return createSecureContext({ ca: [...rootCertificates, ...nodeExtraCaCertificates(), ...pems] })
}

/** The certificates of NODE_EXTRA_CA_CERTS; none when unset or unreadable (Node warned at start-up). */
function nodeExtraCaCertificates(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (file === undefined || file === '') return []
  try {
    return readFileSync(file, 'latin1').match(PEM_CERTIFICATE) ?? []
  } catch {
    return []
  }
}
