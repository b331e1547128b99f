import type { SecureContext } from 'node:tls'
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici'
import { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from './defaults.js'
import { proxyInEnvironment } from './proxy-environment.js'

/** Everything the connection pool needs, resolved (defaults applied, input checked). */
export interface PoolSettings {
  /** `undefined`: from the environment; a URL: that proxy for everything; `false`: none. */
  proxy: string | false | undefined
  headersTimeoutMs: number
  bodyTimeoutMs: number
  connectTimeoutMs: number
  /** Verify certificates (false with `insecure`). */
  rejectUnauthorized: boolean
  /** The trust store with the caller's extra CAs; undefined: Node's default. */
  secureContext: SecureContext | undefined
}


/**
 * One undici pool for a transport: a connection pool per origin with keep-alive, timeouts and TLS
 * settings, behind a proxy when one applies. Plain http goes to the proxy in absolute form (as
 * curl does); https always tunnels through CONNECT, so the proxy never sees the bytes.
 */
export function createPool(settings: PoolSettings): Dispatcher {
  const tls = {
    rejectUnauthorized: settings.rejectUnauthorized,
    ...(settings.secureContext === undefined ? {} : { secureContext: settings.secureContext }),
  }
  const agentOptions = {
    keepAliveTimeout: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    headersTimeout: settings.headersTimeoutMs,
    bodyTimeout: settings.bodyTimeoutMs,
    connect: { timeout: settings.connectTimeoutMs, ...tls },
  }
  const { proxy } = settings
  const fromEnvironment = proxy === undefined && proxyInEnvironment()
  if (proxy === false || (proxy === undefined && !fromEnvironment)) return new Agent(agentOptions)
  const proxied = {
    ...agentOptions,
    proxyTunnel: false,
    // Through a tunnel undici opens the origin's TLS with `requestTls`, not `connect`.
    requestTls: { timeout: settings.connectTimeoutMs, ...tls },
    proxyTls: { timeout: settings.connectTimeoutMs, ...tls },
  }
  // undici reads HTTP(S)_PROXY and NO_PROXY (either case) itself; an explicit proxy overrides
  // them all, NO_PROXY included, as the option promises.
  return new EnvHttpProxyAgent(proxy === undefined ? proxied : { ...proxied, httpProxy: proxy, httpsProxy: proxy, noProxy: '' })
}
