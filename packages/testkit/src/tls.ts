import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { findBinary } from './binary.js'

const run = promisify(execFile)

/** Where `openssl` is, or undefined when it is not installed (tests then skip, saying so). */
export const OPENSSL: string | undefined = findBinary('openssl')

/** A server's key and certificate, PEM, as `https.createServer` takes them. */
export interface ServerCertificate {
  key: string
  cert: string
}

/** Certificates made for one test run; see {@link createTestPki}. */
export interface TestPki {
  /** The folder holding every PEM file below. */
  readonly dir: string
  /** A private CA (its certificate, and the file holding it, for `--cacert` or NODE_EXTRA_CA_CERTS). */
  readonly ca: { cert: string; path: string }
  /** Signed by the CA, for 127.0.0.1 and localhost. */
  readonly server: ServerCertificate
  /** Signed by the CA, for `elsewhere.test` only: a host name mismatch on 127.0.0.1. */
  readonly wrongHost: ServerCertificate
  /** Self-signed, for 127.0.0.1 and localhost (its certificate is its own CA: `path`). */
  readonly selfSigned: ServerCertificate & { path: string }
  /** Removes the folder. Idempotent. */
  remove(): Promise<void>
}

/**
 * Makes a private CA, a server certificate it signs, one it signs for another host, and a
 * self-signed certificate, with `openssl` (P-256 keys, valid for two days), in a new temp folder.
 */
export async function createTestPki(): Promise<TestPki> {
  if (OPENSSL === undefined) throw new Error('openssl is not installed (apt-get install openssl)')
  const openssl = OPENSSL
  const dir = await mkdtemp(join(tmpdir(), 'haul-pki-'))
  const file = (name: string): string => join(dir, name)
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  const local = 'subjectAltName=IP:127.0.0.1,DNS:localhost'
  try {
    await run(openssl, ['req', '-x509', ...key, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=haul test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    await run(openssl, ['req', '-x509', ...key, '-keyout', file('self.key'), '-out', file('self.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', local])
    const signed = async (name: string, san: string): Promise<ServerCertificate> => {
      await writeFile(file(`${name}.ext`), `${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`)
      await run(openssl, ['req', ...key, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`])
      await run(openssl, ['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${name}.pem`), '-days', '2', '-extfile', file(`${name}.ext`)])
      return { key: await readFile(file(`${name}.key`), 'utf8'), cert: await readFile(file(`${name}.pem`), 'utf8') }
    }
    const server = await signed('server', local)
    const wrongHost = await signed('elsewhere', 'subjectAltName=DNS:elsewhere.test')
    const ca = { cert: await readFile(file('ca.pem'), 'utf8'), path: file('ca.pem') }
    const selfSigned = { key: await readFile(file('self.key'), 'utf8'), cert: await readFile(file('self.pem'), 'utf8'), path: file('self.pem') }
    return { dir, ca, server, wrongHost, selfSigned, remove: () => rm(dir, { recursive: true, force: true }) }
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}
