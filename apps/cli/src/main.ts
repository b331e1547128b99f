import { createRequire } from 'node:module'
import { runCache } from './cache-command.js'
import { runGet, type GetContext } from './get.js'
import { HELP } from './help.js'
import { runStatus } from './status.js'

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
    return command === 'get' ? runGet(rest, context) : runCache(rest, context)
  }
  if (command === 'status') return runStatus(rest, context)
  context.stderr.write(`haul: unknown command "${command}". Run "haul --help".\n`)
  return 2
}
