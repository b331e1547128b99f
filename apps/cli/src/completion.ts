import { COMMANDS, optionsOf, type Completion, type CommandSpec, type OptionSpec } from './option-table.js'

/** Shells `haul completion` writes a script for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const
export type Shell = (typeof SHELLS)[number]

/** An option's help cut to its first clause, for the one-line descriptions shells show. */
function brief(text: string): string {
  const cut = text.split(/ \(|; |\. (?=[A-Z])/)[0]!.replace(/\.$/, '')
  return cut.replace(/['"`[\]\\$]/g, '')
}

/** The `--long` and `-s` spellings of an option. */
function spellings(o: OptionSpec): string[] {
  return [`--${o.long}`, ...(o.short === undefined ? [] : [`-${o.short}`])]
}

function bashValue(complete: Completion | undefined): string {
  if (complete === 'file') return 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))'
  if (complete === 'dir') return 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))'
  if (Array.isArray(complete)) return `COMPREPLY=($(compgen -W "${complete.join(' ')}" -- "$cur"))`
  return 'COMPREPLY=()'
}

function bashCommand(c: CommandSpec): string[] {
  const options = optionsOf(c)
  const valued = options.filter((o) => o.value !== undefined && o.optionalValue !== true)
  return [
    `    ${c.name})`,
    ...(valued.length === 0 ? [] : ['      case "$prev" in', ...valued.map((o) => `        ${spellings(o).join('|')}) ${bashValue(o.complete)}; return ;;`), '      esac']),
    `      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${options.flatMap(spellings).join(' ')}" -- "$cur")); return; fi`,
    `      ${bashValue(c.positionals)}`,
    '      ;;',
  ]
}

function bash(): string {
  return [
    '# bash completion for haul (written by `haul completion bash`)',
    '_haul() {',
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" cmd="" i',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    case "${COMP_WORDS[i]}" in -*) ;; *) cmd="${COMP_WORDS[i]}"; break ;; esac',
    '  done',
    '  case "$cmd" in',
    `    "") COMPREPLY=($(compgen -W "${COMMANDS.map((c) => c.name).join(' ')} --help --version" -- "$cur")) ;;`,
    ...COMMANDS.flatMap(bashCommand),
    '  esac',
    '}',
    'complete -F _haul haul',
    '',
  ].join('\n')
}

function zshAction(complete: Completion | undefined): string {
  if (complete === 'file') return '_files'
  if (complete === 'dir') return '_files -/'
  if (Array.isArray(complete)) return `(${complete.join(' ')})`
  return ' '
}

function zshOption(o: OptionSpec): string {
  const prefix = o.multiple === true ? '*' : `(${spellings(o).join(' ')})`
  const takes = o.value === undefined ? '' : o.optionalValue === true ? '=-' : '='
  const names = o.short === undefined ? `--${o.long}${takes}` : `'{-${o.short}${o.value === undefined ? '' : '+'},--${o.long}${takes}}'`
  const value = o.value === undefined ? '' : `${o.optionalValue === true ? '::' : ':'}${o.value.replace(/[':]/g, '')}:${zshAction(o.complete)}`
  return `'${prefix}${names}[${brief(o.help)}]${value}'`
}

function zsh(): string {
  return [
    '#compdef haul',
    '# zsh completion for haul (written by `haul completion zsh`)',
    '_haul() {',
    '  local curcontext="$curcontext" state line',
    '  typeset -A opt_args',
    "  _arguments -C '(- *)'{-h,--help}'[show help]' '(- *)'{-V,--version}'[show the version]' '1: :->command' '*:: :->args' && return",
    '  case $state in',
    '    command)',
    '      local -a commands',
    `      commands=(${COMMANDS.map((c) => `'${c.name}:${brief(c.summary)}'`).join(' ')})`,
    "      _describe -t commands 'haul command' commands ;;",
    '    args)',
    '      case $words[1] in',
    ...COMMANDS.map((c) => `        ${c.name}) _arguments -s ${optionsOf(c).map(zshOption).join(' ')}${c.positionals === undefined ? '' : ` '*: :${zshAction(c.positionals)}'`} ;;`),
    '      esac ;;',
    '  esac',
    '}',
    '_haul "$@"',
    '',
  ].join('\n')
}

function fishValue(complete: Completion | undefined): string {
  if (complete === 'file') return '-r -F'
  if (complete === 'dir') return "-x -a '(__fish_complete_directories)'"
  if (Array.isArray(complete)) return `-x -a '${complete.join(' ')}'`
  return '-x'
}

function fish(): string {
  const lines = ['# fish completion for haul (written by `haul completion fish`)', 'complete -c haul -f']
  lines.push("complete -c haul -n __fish_use_subcommand -s h -l help -d 'show help'", "complete -c haul -n __fish_use_subcommand -s V -l version -d 'show the version'")
  for (const c of COMMANDS) lines.push(`complete -c haul -n __fish_use_subcommand -a ${c.name} -d '${brief(c.summary)}'`)
  for (const c of COMMANDS) {
    const when = `-n '__fish_seen_subcommand_from ${c.name}'`
    for (const o of optionsOf(c)) {
      const value = o.value === undefined || o.optionalValue === true ? '' : ` ${fishValue(o.complete)}`
      lines.push(`complete -c haul ${when}${o.short === undefined ? '' : ` -s ${o.short}`} -l ${o.long}${value} -d '${brief(o.help)}'`)
    }
    if (c.positionals !== undefined && c.positionals !== 'none') lines.push(`complete -c haul ${when} ${c.positionals === 'file' ? '-F' : fishValue(c.positionals)}`)
  }
  return `${lines.join('\n')}\n`
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell): string {
  return shell === 'bash' ? bash() : shell === 'zsh' ? zsh() : fish()
}
