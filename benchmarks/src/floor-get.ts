import { connect, type Socket } from 'node:net'
import { FloorHead } from './floor-head.js'

/** How a socket floor takes its response (see {@link floorGet}). */
export interface FloorGetOptions {
  /** Where reads land (`onread`'s buffer: one buffer, or a function that names the next one). */
  buffer: Uint8Array | (() => Uint8Array)
  /** The body's framing the response must have (FloorHead). @default 'length' */
  framing?: 'length' | 'chunked'
  /** An Accept header to send. */
  accept?: string
  /**
   * Body bytes as they land: `length` is the body's length from the head (infinite for a chunked
   * one); `fromHead` says these are the bytes that came with the head, a copy outside `buffer`.
   * Returns false to pause reading, as `onread`'s callback does.
   */
  body(bytes: Uint8Array, length: number, fromHead: boolean): boolean
}

/**
 * One plain-http GET on a `net` socket whose reads land, through `onread`, where `buffer` says:
 * what the socket floors share. The head is gathered and checked by FloorHead, and every read's
 * body bytes go to `body`, in order.
 */
export function floorGet(href: string, options: FloorGetOptions): Socket {
  const url = new URL(href)
  const head = new FloorHead(href, options.framing)
  let length = Number.POSITIVE_INFINITY
  const socket = connect({
    host: url.hostname,
    port: Number(url.port || 80),
    onread: {
      buffer: options.buffer,
      callback(n: number, chunk: Uint8Array): boolean {
        if (head.done) return options.body(chunk.subarray(0, n), length, false)
        const got = head.take(chunk.subarray(0, n))
        if (got === undefined) return true
        length = got.length
        return options.body(got.body, length, true)
      },
    },
  })
  const accept = options.accept === undefined ? '' : `accept: ${options.accept}\r\n`
  socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n${accept}\r\n`)
  return socket
}
