/** The variables that name a proxy; NO_PROXY alone proxies nothing. */
const PROXY_VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy']

/** Whether the environment names a proxy (undici's EnvHttpProxyAgent then applies it, NO_PROXY aside). */
export function proxyInEnvironment(): boolean {
  return PROXY_VARIABLES.some((name) => (process.env[name] ?? '') !== '')
}
