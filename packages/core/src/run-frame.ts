import { HaulError, toHaulError } from './errors.js'
import { guardedEmitter, type EventListener, type HaulEvent } from './events.js'
import { withRateLimit } from './fetch/rate-limit.js'
import type { DownloadOptions } from './options.js'
import type { Source } from './source.js'

/** The options every entry point's frame reads. */
type FrameOptions = Pick<DownloadOptions, 'rateLimit' | 'lowSpeedBytesPerSecond' | 'signal'> & { onEvent?: EventListener }

/**
 * What runDownload and streamDownload do around their run: refuse an empty source list, pace the
 * sources by the rate limit, turn a failure into one HaulError (and its `error` event), and close
 * the sources whatever happens.
 */
export async function runFramed<O extends FrameOptions, T>(
  sources: ReadonlyArray<Source>,
  options: O,
  run: (paced: ReadonlyArray<Source>, effective: O, emit: (e: HaulEvent) => void) => Promise<T>,
): Promise<T> {
  const emit = guardedEmitter(options.onEvent)
  try {
    if (sources.length === 0) throw new HaulError('HAUL_USAGE', 'No source given: pass at least one URL or CID.')
    const [paced, effective] = withRateLimit(sources, options)
    return await run(paced, effective, emit)
  } catch (err) {
    const error = toHaulError(err, options.signal)
    emit({ event: 'error', code: error.code, message: error.message })
    throw error
  } finally {
    await Promise.all(sources.map((s) => s.close?.().catch(() => undefined)))
  }
}
