import type { PeerKind, PeerRecipe } from './recipe.js'

/** lighttpd with `modules` (the lines that differ between its two configs) after the common ones. */
function lighttpdRecipe(kind: PeerKind, modules: string): PeerRecipe {
  return {
    kind,
    binary: 'lighttpd',
    aptPackage: 'lighttpd',
    launch({ bin, port, docroot, workDir }) {
      const conf = `${workDir}/lighttpd.conf`
      return {
        command: bin,
        args: ['-D', '-f', conf],
        logFile: `${workDir}/error.log`,
        files: {
          [conf]: `server.document-root = "${docroot}"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${workDir}/error.log"
server.upload-dirs = ( "${workDir}" )
${modules}`,
        },
      }
    },
  }
}

/** Debian's lighttpd with mod_staticfile and a MIME map, as its packaged config has: strong ETag and Last-Modified. */
export const lighttpd: PeerRecipe = lighttpdRecipe(
  'lighttpd',
  `server.modules = ( "mod_staticfile" )
mimetype.assign = ( "" => "application/octet-stream" )
static-file.etags = "enable"
`,
)

/**
 * lighttpd with a common minimal config (no mod_staticfile in server.modules, no MIME map): it
 * still answers ranges, but sends neither ETag nor Last-Modified, so nothing tells one version of
 * a file from the next.
 */
export const lighttpdMinimal: PeerRecipe = lighttpdRecipe('lighttpd-minimal', 'server.modules = ( )\n')
