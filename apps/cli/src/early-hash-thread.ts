/**
 * Whether a `haul get` (its arguments after `get`) is one download to a file, whose digest will
 * most likely run on the hash thread. A rough look at the arguments, not the parse (which loads
 * the command's modules): a wrong guess costs time, never a result.
 *
 * Not for a batch (`-i`; its files are mostly small, each hashed in the call), `-o -` (stdout),
 * or `HAUL_HASH_THREAD=0`.
 */
export function startsHashThreadEarly(args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (env.HAUL_HASH_THREAD === '0') return false
  const end = args.indexOf('--')
  const options = end === -1 ? args : args.slice(0, end)
  return !options.some(
    (a, i) =>
      a === '-i' || a === '--input' || a.startsWith('--input=') || a === '-o-' || a === '--output=-' || ((a === '-o' || a === '--output') && options[i + 1] === '-'),
  )
}

/**
 * Starts the process's hash thread as the get command begins to load, for a download that will
 * likely need it ({@link startsHashThreadEarly}). A big file's verified download waits on its
 * SHA-256 from its first MiB to its last, so the worker's own start (≈ 26 ms: Node sets up a
 * second environment for it), made at the first digest, delayed the whole download by as much;
 * begun here it runs beside the command's start-up on the other core. 1 GiB verified, medians of
 * alternating rounds: 1.273 → 1.225 s (12 rounds), 1.274 → 1.162 s (10). What it costs a small
 * file's get: the worker made and stopped for nothing, 84 → 101 and 78 → 97 ms for 4 KiB (40
 * rounds each); started later, at the request, the exit waited for its start: 80 → 106 ms. A
 * batch of small files pays nothing (not started).
 *
 * Only the hash thread's module is loaded (a small chunk of its own in the bundle); a failure
 * is ignored: the download starts the thread itself when a digest needs it, or hashes in the call.
 */
export async function startHashThreadEarly(): Promise<void> {
  try {
    ;(await import('@haul/core/hash-thread')).startHashThread()
  } catch {
    // See above: best effort.
  }
}
