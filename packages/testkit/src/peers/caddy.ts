import type { PeerRecipe } from './recipe.js'

/** Debian's caddy 2 with `file_server` (strong ETag from mtime and size, Last-Modified), plain HTTP, no admin endpoint. */
export const caddy: PeerRecipe = {
  kind: 'caddy',
  binary: 'caddy',
  aptPackage: 'caddy',
  launch({ bin, port, docroot, workDir }) {
    const conf = `${workDir}/caddy.json`
    const config = {
      admin: { disabled: true },
      logging: { logs: { default: { level: 'ERROR' } } },
      storage: { module: 'file_system', root: `${workDir}/data` },
      apps: {
        http: {
          servers: {
            peer: {
              listen: [`127.0.0.1:${port}`],
              automatic_https: { disable: true },
              routes: [{ handle: [{ handler: 'file_server', root: docroot }] }],
            },
          },
        },
      },
    }
    return {
      command: bin,
      args: ['run', '--config', conf],
      // caddy keeps state under HOME/XDG folders: keep it in the test's folder.
      env: { HOME: workDir, XDG_CONFIG_HOME: workDir, XDG_DATA_HOME: workDir },
      files: { [conf]: JSON.stringify(config) },
    }
  },
}
