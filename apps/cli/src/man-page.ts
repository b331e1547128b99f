import { COMMANDS, ENVIRONMENT, EXIT_STATUS, optionsOf, type CommandSpec, type OptionSpec } from './option-table.js'

/** Characters roff can't take as they are in running text, and what it writes instead. */
const ROFF_CHARS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\\/g, '\\e'],
  [/-/g, '\\-'],
  [/—/g, '\\(em'],
  [/…/g, '...'],
  [/→/g, '\\(->'],
  [/'/g, "\\(aq"],
]

/** Text for roff: escapes, and no line starting with a control character. */
function roff(text: string): string {
  let out = text
  for (const [from, to] of ROFF_CHARS) out = out.replace(from, to)
  return out.replace(/^[.]/gm, '\\&.')
}

function optionItem(o: OptionSpec): string[] {
  const value = o.value === undefined ? '' : o.optionalValue === true ? `[=\\fI${roff(o.value)}\\fR]` : ` \\fI${roff(o.value)}\\fR`
  const names = `${o.short === undefined ? '' : `\\fB\\-${o.short}\\fR, `}\\fB\\-\\-${roff(o.long)}\\fR${value}`
  return ['.TP', names, roff(o.help)]
}

function commandOptions(command: CommandSpec): string[] {
  const options = optionsOf(command)
  const groups = new Map<string, OptionSpec[]>()
  for (const o of options) groups.set(o.group, [...(groups.get(o.group) ?? []), o])
  const out = [`.SH OPTIONS FOR ${command.name.toUpperCase()}`]
  for (const [group, list] of groups) out.push(...(groups.size > 1 ? [`.SS ${roff(group)}`] : []), ...list.flatMap(optionItem))
  return out
}

/** The manual page `haul.1`, from the same table as `--help`. */
export function manPage(version: string): string {
  const lines = [
    `.TH HAUL 1 "" "haul ${roff(version)}" "User Commands"`,
    '.SH NAME',
    'haul \\- downloads that land whole',
    '.SH SYNOPSIS',
    '.nf',
    ...COMMANDS.flatMap((c) => c.usage.map((u) => `\\fBhaul\\fR ${roff(u)}`)),
    '\\fBhaul\\fR \\-\\-help | \\-\\-version',
    '.fi',
    '.SH DESCRIPTION',
    roff('haul fetches large files (model weights, datasets, content by IPFS CID) as transactions: lock, stage, fetch (resume, retry, rotate sources), verify, atomic commit. Either the verified file is at its path, or nothing is; a previous version stays untouched. A dropped connection resumes where it stopped, a killed process resumes on the next run, processes asking for the same file share one download, and a lying server or gateway is caught before its bytes are committed.'),
    '.SH COMMANDS',
    ...COMMANDS.flatMap((c) => ['.TP', `\\fB${c.name}\\fR`, roff(`${c.summary}.`)]),
    ...COMMANDS.filter((c) => optionsOf(c).length > 1).flatMap((c) => [...commandOptions(c), ...(c.notes ?? []).flatMap((n) => ['.PP', roff(n)])]),
    '.SH EXIT STATUS',
    ...EXIT_STATUS.flatMap(([code, text]) => ['.TP', `\\fB${roff(code)}\\fR`, roff(text)]),
    '.SH ENVIRONMENT',
    ...ENVIRONMENT.flatMap(([name, text]) => ['.TP', `\\fB${roff(name)}\\fR`, roff(text)]),
    '.SH EXAMPLES',
    '.nf',
    ...COMMANDS.flatMap((c) => c.examples.map((e) => `haul ${roff(e)}`)),
    '.fi',
    '.SH SEE ALSO',
    '\\fBcurl\\fR(1), \\fBwget\\fR(1), \\fBaria2c\\fR(1)',
  ]
  return `${lines.join('\n')}\n`
}
