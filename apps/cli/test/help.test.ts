// Help, the man page and the shell completions come from one option table: every option of every
// command must show in all of them, every command's --help exits 0, and the scripts must work in
// the real shells (bash, zsh, fish) and the page in groff.
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findBinary } from '@haul/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/main.js'
import { COMMANDS, optionsOf } from '../src/option-table.js'
import { haul } from './helpers.js'


async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, { stdout: { write: (s: string) => ((stdout += s), true) } as NodeJS.WritableStream, stderr: { write: (s: string) => ((stderr += s), true) } as NodeJS.WritableStream, cwd: tmpdir() })
  return { code, stdout, stderr }
}

let dir: string
const scripts: Record<'bash' | 'zsh' | 'fish', string> = { bash: '', zsh: '', fish: '' }
let man = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haul-help-'))
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    scripts[shell] = (await run(['completion', shell])).stdout
    await writeFile(join(dir, `haul.${shell}`), scripts[shell])
  }
  man = (await run(['man'])).stdout
  await writeFile(join(dir, 'haul.1'), man)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const roff = (text: string): string => text.replace(/-/g, '\\-')

describe('help, man page and completions from one table', () => {
  for (const command of COMMANDS) {
    it(`haul ${command.name} --help exits 0 and lists each of its options; haul help ${command.name} says the same`, async () => {
      const help = await run([command.name, '--help'])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain(`haul ${command.name} — `)
      for (const o of optionsOf(command)) {
        expect(help.stdout).toContain(`--${o.long}`)
        if (o.short !== undefined) expect(help.stdout).toContain(`-${o.short}, --${o.long}`)
      }
      for (const example of command.examples) expect(help.stdout).toContain(`haul ${example}`)
      expect(await run(['help', command.name])).toEqual(help)
      expect(await run([command.name, '-h'])).toEqual(help)
    })

    it(`every option of ${command.name} is in the man page and the bash, zsh and fish completions`, () => {
      expect(man).toContain(`\\fB${command.name}\\fR`)
      for (const o of optionsOf(command)) {
        expect(man).toContain(`\\fB\\-\\-${roff(o.long)}\\fR`)
        expect(scripts.bash).toMatch(new RegExp(`[ "|]--${o.long}[ "|)]`))
        expect(scripts.zsh).toContain(`--${o.long}`)
        expect(scripts.fish).toMatch(new RegExp(`-n '__fish_seen_subcommand_from ${command.name}'( -s ${o.short ?? '\\w'})? -l ${o.long} `))
        if (o.short !== undefined) {
          expect(man).toContain(`\\fB\\-${o.short}\\fR, \\fB\\-\\-${roff(o.long)}`)
          expect(scripts.zsh).toContain(`{-${o.short}${o.value === undefined ? '' : '+'},--${o.long}`)
        }
      }
    })
  }

  it('get --help has its own usage and examples, not the global help; haul --help lists every command', async () => {
    const get = await run(['get', '--help'])
    expect(get.stdout).toMatch(/^haul get — download files/)
    expect(get.stdout).not.toContain('Commands:')
    expect(get.stdout).toContain('Examples:\n  haul get https://')
    const global = await run(['--help'])
    expect(global.code).toBe(0)
    for (const command of COMMANDS) expect(global.stdout).toMatch(new RegExp(`^  ${command.name} +\\S`, 'm'))
    expect((await run([])).code).toBe(2)
  })

  it('help for an unknown command, completion for an unknown shell and man with arguments exit 2', async () => {
    expect(await run(['help', 'nope'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no help for "nope"/) })
    expect(await run(['completion', 'tcsh'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/bash, zsh, fish/) })
    expect(await run(['completion'])).toMatchObject({ code: 2 })
    expect(await run(['man', 'x'])).toMatchObject({ code: 2 })
  })

  it('the real binary: haul status --help exits 0 (it used to exit 2)', async () => {
    const child = haul(['status', '--help'], dir)
    expect(await child.waitForExit()).toMatchObject({ code: 0 })
    expect(child.stdout).toContain('haul status PATH [--json]')
  })

  it('the man page the build ships (dist/haul.1) is the one haul man prints', async () => {
    expect(await readFile(new URL('../dist/haul.1', import.meta.url), 'utf8')).toBe(man)
  })

  it.skipIf(findBinary('groff') === undefined)('groff renders the man page without a warning (skipped: groff not installed)', () => {
    // grotty marks bold and underline by overstriking (X backspace X): keep the plain text.
    const out = execFileSync('groff', ['-man', '-Tutf8', '-ww', join(dir, 'haul.1')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).replace(/.\x08/g, '')
    expect(out).toMatch(/--limit-rate RATE/)
    expect(out).toMatch(/EXIT STATUS/)
    const warnings = execFileSync('sh', ['-c', `groff -man -Tutf8 -ww -z '${join(dir, 'haul.1')}' 2>&1`], { encoding: 'utf8' })
    expect(warnings).toBe('')
  })

  it('bash completes commands, options, option values and shells', () => {
    const complete = (...words: string[]): string[] =>
      execFileSync('bash', ['-c', `source '${join(dir, 'haul.bash')}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _haul; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8', cwd: dir }).split('\n').filter((l) => l !== '')
    expect(complete('haul', '')).toEqual(expect.arrayContaining(COMMANDS.map((c) => c.name)))
    expect(complete('haul', 'get', '--lim')).toEqual(['--limit-rate'])
    expect(complete('haul', 'get', '-o', 'haul.b')).toEqual(['haul.bash'])
    expect(complete('haul', 'completion', '')).toEqual(['bash', 'zsh', 'fish'])
    expect(complete('haul', 'cache', 'v')).toEqual(['verify'])
  })

  it.skipIf(findBinary('zsh') === undefined)('zsh parses its completion script (skipped: zsh not installed)', () => {
    expect(scripts.zsh.startsWith('#compdef haul\n')).toBe(true)
    execFileSync('zsh', ['-n', join(dir, 'haul.zsh')])
  })

  it.skipIf(findBinary('fish') === undefined)('fish completes commands, options and shells from its script (skipped: fish not installed)', () => {
    const complete = (line: string): string[] =>
      execFileSync('fish', ['--no-config', '-c', `source '${join(dir, 'haul.fish')}'; complete -C '${line}'`], { encoding: 'utf8', cwd: dir }).split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0]!)
    expect(complete('haul ')).toEqual(expect.arrayContaining(COMMANDS.map((c) => c.name)))
    expect(complete('haul get --lim')).toEqual(['--limit-rate'])
    expect(complete('haul completion ')).toEqual(['bash', 'fish', 'zsh'])
  })
})
