import type { PeerLaunchContext, PeerRecipe } from './recipe.js'

function lighttpdConfig({ port, docroot, workDir }: PeerLaunchContext, extra: string): string {
  return `server.document-root = "${docroot}"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${workDir}/error.log"
server.upload-dirs = ( "${workDir}" )
${extra}`
}

/** Debian's lighttpd with mod_staticfile and a MIME map, as its packaged config has: strong ETag and Last-Modified. */
export const lighttpd: PeerRecipe = {
  kind: 'lighttpd',
  binary: 'lighttpd',
  aptPackage: 'lighttpd',
  launch(context) {
    const conf = `${context.workDir}/lighttpd.conf`
    return {
      command: context.bin,
      args: ['-D', '-f', conf],
      logFile: `${context.workDir}/error.log`,
      files: {
        [conf]: lighttpdConfig(
          context,
          `server.modules = ( "mod_staticfile" )
mimetype.assign = ( "" => "application/octet-stream" )
static-file.etags = "enable"
`,
        ),
      },
    }
  },
}

/**
 * lighttpd with a common minimal config (no mod_staticfile in server.modules, no MIME map): it
 * still answers ranges, but sends neither ETag nor Last-Modified, so nothing tells one version of
 * a file from the next.
 */
export const lighttpdMinimal: PeerRecipe = {
  kind: 'lighttpd-minimal',
  binary: 'lighttpd',
  aptPackage: 'lighttpd',
  launch(context) {
    const conf = `${context.workDir}/lighttpd.conf`
    return {
      command: context.bin,
      args: ['-D', '-f', conf],
      logFile: `${context.workDir}/error.log`,
      files: { [conf]: lighttpdConfig(context, 'server.modules = ( )\n') },
    }
  },
}
