import type { PeerRecipe } from './recipe.js'

/** Python's `http.server`: HTTP/1.0, Last-Modified but no ETag, and no ranges at all (every GET is a 200 with the whole file). */
export const pythonHttp: PeerRecipe = {
  kind: 'python-http',
  binary: 'python3',
  aptPackage: 'python3',
  launch({ bin, port, docroot }) {
    return { command: bin, args: ['-m', 'http.server', '--bind', '127.0.0.1', '--directory', docroot, String(port)], files: {} }
  },
}
