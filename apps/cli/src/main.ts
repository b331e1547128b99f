import { createRequire } from 'node:module'
import type { GetContext } from './get.js'
import { HELP } from './help.js'

const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version

/** Runs `haul ARGV…` and returns the exit status. */
export async function main(argv: string[], context: GetContext): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    context.stdout.write(HELP)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-V') {
    context.stdout.write(`haul ${version}\n`)
    return 0
  }
  if (command === 'get' || command === 'cache') {
    if (rest.includes('--help') || rest.includes('-h')) {
      context.stdout.write(HELP)
      return 0
    }
    // Each command loads only its own modules: a get starts its request sooner.
    return command === 'get' ? (await import('./get.js')).runGet(rest, context) : (await import('./cache-command.js')).runCache(rest, context)
  }
  if (command === 'status') return (await import('./status.js')).runStatus(rest, context)
  context.stderr.write(`haul: unknown command "${command}". Run "haul --help".\n`)
  return 2
}
