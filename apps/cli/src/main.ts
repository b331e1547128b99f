import { createRequire } from 'node:module'
import { SHELLS, completionScript, type Shell } from './completion.js'
import { startHashThreadEarly, startsHashThreadEarly } from './early-hash-thread.js'
import type { GetContext } from './get.js'
import { commandHelp, globalHelp } from './help.js'
import { manPage } from './man-page.js'
import { commandSpec } from './option-table.js'

const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version

/** Whether `args` ask for help (before a `--`, which ends the options). */
function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

/** Runs `haul ARGV…` and returns the exit status. */
export async function main(argv: string[], context: GetContext): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h') {
    context.stdout.write(globalHelp())
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-V') {
    context.stdout.write(`haul ${version}\n`)
    return 0
  }
  const spec = commandSpec(command)
  if (spec === undefined) {
    context.stderr.write(`haul: unknown command "${command}". Run "haul --help".\n`)
    return 2
  }
  if (wantsHelp(rest)) {
    context.stdout.write(commandHelp(spec))
    return 0
  }
  // Each command loads only its own modules: a get sends its first request sooner.
  switch (spec.name) {
    case 'get':
      if (startsHashThreadEarly(rest, context.env ?? process.env)) void startHashThreadEarly()
      return (await import('./get-command.js')).runGet(rest, context)
    case 'status':
      return (await import('./status.js')).runStatus(rest, context)
    case 'cache':
      return (await import('./cache-command.js')).runCache(rest, context)
    case 'help': {
      if (rest.length === 0) {
        context.stdout.write(globalHelp())
        return 0
      }
      const topic = rest.length === 1 ? commandSpec(rest[0]!) : undefined
      if (topic === undefined) {
        context.stderr.write(`haul: no help for "${rest.join(' ')}"; the commands are get, status, cache, completion, man.\n`)
        return 2
      }
      context.stdout.write(commandHelp(topic))
      return 0
    }
    case 'completion': {
      if (rest.length !== 1 || !(SHELLS as readonly string[]).includes(rest[0]!)) {
        context.stderr.write(`haul: completion takes one shell: ${SHELLS.join(', ')}. Example: haul completion bash > ~/.local/share/bash-completion/completions/haul\n`)
        return 2
      }
      context.stdout.write(completionScript(rest[0] as Shell))
      return 0
    }
    default: {
      if (rest.length > 0) {
        context.stderr.write('haul: man takes no arguments.\n')
        return 2
      }
      context.stdout.write(manPage(version))
      return 0
    }
  }
}
