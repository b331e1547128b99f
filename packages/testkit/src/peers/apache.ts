import type { PeerRecipe } from './recipe.js'

/**
 * Debian's Apache 2.4 with only the modules a static file needs. Its quirks are the point: a file
 * modified within the last second gets a weak ETag, and an If-Range date within 60 s of the
 * file's mtime is refused (a 200 with the whole file).
 */
export const apache: PeerRecipe = {
  kind: 'apache',
  binary: 'apache2',
  aptPackage: 'apache2',
  launch({ bin, port, docroot, workDir, root }) {
    const conf = `${workDir}/httpd.conf`
    const modules = '/usr/lib/apache2/modules'
    return {
      // -X: one process in the foreground, as the current user (as root too: it never switches).
      command: bin,
      args: ['-X', '-f', conf],
      logFile: `${workDir}/error.log`,
      files: {
        [conf]: `ServerRoot ${workDir}
LoadModule mpm_event_module ${modules}/mod_mpm_event.so
LoadModule authz_core_module ${modules}/mod_authz_core.so
Listen 127.0.0.1:${port}
ServerName 127.0.0.1
${
          // Apache refuses `User root`; with -X it never switches users anyway, so root names none.
          root ? '' : `User #${process.getuid?.() ?? 0}\nGroup #${process.getgid?.() ?? 0}\n`
        }PidFile ${workDir}/httpd.pid
ErrorLog ${workDir}/error.log
DefaultRuntimeDir ${workDir}
Mutex file:${workDir}
EnableSendfile On
KeepAlive On
DocumentRoot ${docroot}
<Directory ${docroot}>
  Require all granted
</Directory>
`,
      },
    }
  },
}
