/**
 * An AbortController that also aborts when `parent` does; `close()` aborts it and lets go of
 * `parent`. For work that belongs to one read (block fetches behind a CAR) and must end with it.
 */
export function linkedController(parent: AbortSignal): { signal: AbortSignal; close(): void } {
  const own = new AbortController()
  const onAbort = (): void => own.abort(parent.reason)
  if (parent.aborted) onAbort()
  else parent.addEventListener('abort', onAbort, { once: true })
  return {
    signal: own.signal,
    close() {
      parent.removeEventListener('abort', onAbort)
      own.abort()
    },
  }
}
