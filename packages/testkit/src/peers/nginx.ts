import type { PeerRecipe } from './recipe.js'

/** Debian's nginx (nginx-light): a plain static server with its default validators (strong ETag, Last-Modified). */
export const nginx: PeerRecipe = {
  kind: 'nginx',
  binary: 'nginx',
  aptPackage: 'nginx-light',
  launch({ bin, port, docroot, workDir, root }) {
    const conf = `${workDir}/nginx.conf`
    return {
      command: bin,
      args: ['-p', workDir, '-e', `${workDir}/error.log`, '-c', conf],
      logFile: `${workDir}/error.log`,
      files: {
        [conf]: `${
          // Started as root, the workers would run as nobody, who can't read a private temp folder.
          root ? 'user root root;\n' : ''
        }worker_processes 2;
daemon off;
pid ${workDir}/nginx.pid;
error_log ${workDir}/error.log warn;
events { worker_connections 256; }
http {
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  keepalive_timeout 10s;
  client_body_temp_path ${workDir}/body;
  proxy_temp_path ${workDir}/proxy;
  fastcgi_temp_path ${workDir}/fastcgi;
  uwsgi_temp_path ${workDir}/uwsgi;
  scgi_temp_path ${workDir}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${docroot};
  }
}
`,
      },
    }
  },
}
