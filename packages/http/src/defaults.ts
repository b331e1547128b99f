/** Default values for the HTTP driver's options, in one place. */
import { createRequire } from 'node:module'

// src/ and dist/ both sit one level below package.json, so one relative path serves vitest (which
// runs the sources) and the published build.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string }

/** `User-Agent` sent unless the caller's headers set one. */
export const DEFAULT_USER_AGENT = `haul/${version} (+https://github.com/haul)`

/** Redirects followed before the download fails. */
export const DEFAULT_MAX_REDIRECTS = 10
/** Mirrors tried after the main URL. */
export const DEFAULT_MIRRORS: readonly string[] = []
/** Extra request headers. */
export const DEFAULT_HEADERS: Readonly<Record<string, string>> = {}
/**
 * undici's wait for response headers. Core detects stalls and aborts through the signal, so this
 * is only a backstop and is kept well above the stall timeout.
 */
export const DEFAULT_HEADERS_TIMEOUT_MS = 5 * 60_000
/** undici's wait between body bytes; a backstop like {@link DEFAULT_HEADERS_TIMEOUT_MS}. */
export const DEFAULT_BODY_TIMEOUT_MS = 5 * 60_000
/** Time allowed to open a connection (TCP + TLS) before the attempt fails as transient. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000
/** How long an idle pooled connection is kept for the next range. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 10_000
/**
 * Retries after a host name failed to resolve (ENOTFOUND, EAI_AGAIN), per host and transport:
 * one covers a resolver's hiccup; more only delay the error for a typo.
 */
export const DEFAULT_DNS_RETRIES = 1
/** Certificates are verified unless the caller says otherwise. */
export const DEFAULT_INSECURE = false
