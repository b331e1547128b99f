import { COMMANDS, ENVIRONMENT, EXIT_STATUS, commandSpec, optionsOf, type CommandSpec, type OptionSpec } from './option-table.js'

/** Width help text is wrapped to. */
const WIDTH = 100
/** Column where an option's description starts. */
const TEXT_COLUMN = 27

/** Words of `text` in lines of at most `width` characters. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') lines.push(line)
  return lines
}

/** How an option is written: `-o, --output PATH`, `--cache[=DIR]`, `    --json`. */
export function optionSignature(o: OptionSpec): string {
  const value = o.value === undefined ? '' : o.optionalValue === true ? `[=${o.value}]` : ` ${o.value}`
  return `${o.short === undefined ? '    ' : `-${o.short}, `}--${o.long}${value}`
}

/** A two-column block: each name, then its text wrapped beside it. */
function table(rows: ReadonlyArray<readonly [string, string]>): string[] {
  const out: string[] = []
  for (const [name, text] of rows) {
    const lines = wrap(text, WIDTH - TEXT_COLUMN)
    const left = `  ${name}`
    if (left.length < TEXT_COLUMN - 1) out.push(`${left.padEnd(TEXT_COLUMN)}${lines.shift() ?? ''}`)
    else out.push(left)
    for (const l of lines) out.push(`${' '.repeat(TEXT_COLUMN)}${l}`)
  }
  return out
}

/** A command's options, under their group headings. */
function optionBlocks(command: CommandSpec, title: (group: string) => string): string[] {
  const groups = new Map<string, OptionSpec[]>()
  for (const o of command.options) groups.set(o.group, [...(groups.get(o.group) ?? []), o])
  const out: string[] = []
  for (const [group, options] of groups) out.push('', title(group), ...table(options.map((o) => [optionSignature(o), o.help])))
  return out
}

const paragraph = (text: string): string[] => wrap(text, WIDTH - 2).map((l) => `  ${l}`)

/** `haul --help`: the commands, get's options, exit status and examples. */
export function globalHelp(): string {
  const get = commandSpec('get')!
  const lines = [
    'haul — downloads that land whole.',
    '',
    'Usage:',
    ...COMMANDS.flatMap((c) => c.usage.map((u) => `  haul ${u}`)),
    '  haul --help | --version',
    '',
    'Commands:',
    ...table(COMMANDS.map((c) => [c.name, c.summary])),
    ...optionBlocks(get, (group) => `Options for get — ${group}:`),
    '',
    ...paragraph(get.notes!.join(' ')),
    '',
    'Exit status:',
    ...table(EXIT_STATUS),
    '',
    'Environment:',
    ...table(ENVIRONMENT),
    '',
    'Examples:',
    ...COMMANDS.flatMap((c) => c.examples.slice(0, c.name === 'get' ? 6 : 1).map((e) => `  haul ${e}`)),
    '',
    'Run "haul help COMMAND" (or "haul COMMAND --help") for one command; "man haul" for the manual.',
  ]
  return `${lines.join('\n')}\n`
}

/** `haul help COMMAND` and `haul COMMAND --help`: its usage, options, notes and examples. */
export function commandHelp(command: CommandSpec): string {
  const withHelp = { ...command, options: optionsOf(command) }
  const lines = [
    `haul ${command.name} — ${command.summary}.`,
    '',
    'Usage:',
    ...command.usage.map((u) => `  haul ${u}`),
    ...optionBlocks(withHelp, (group) => `${group}:`),
    ...(command.notes ?? []).flatMap((n) => ['', ...paragraph(n)]),
    '',
    'Examples:',
    ...command.examples.map((e) => `  haul ${e}`),
  ]
  return `${lines.join('\n')}\n`
}
