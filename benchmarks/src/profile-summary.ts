/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package, so
 * "where does the time go" has a short answer.
 *
 *   node benchmarks/dist/profile-summary.js PROFILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** One row of the summary: a name and its self time in milliseconds. */
export interface SelfTime {
  name: string
  ms: number
}

/** Which package (or runtime part) a frame belongs to. */
function area(frame: CallFrame): string {
  const url = frame.url
  if (url === '') return frame.functionName === '(garbage collector)' ? 'gc' : frame.functionName.startsWith('(') ? frame.functionName : 'native'
  const pnpm = /node_modules\/\.pnpm\/([^/]+)\//.exec(url)
  if (pnpm !== null) return pnpm[1]!.replace(/@(\d[^@]*)$/, '')
  const own = /\/(packages|apps)\/([^/]+)\//.exec(url)
  if (own !== null) return `@haul/${own[2]}`
  if (url.startsWith('node:')) return url
  return url
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\//, '').replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '').replace(/^.*\/(packages|apps)\//, '')
}

/** Self time per function and per area, largest first. */
export function summarise(profile: CpuProfile): { totalMs: number; byFunction: SelfTime[]; byArea: SelfTime[] } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const byFunction = new Map<string, number>()
  const byArea = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const frame = nodes.get(id)!.callFrame
    const name = `${frame.functionName || '(anonymous)'} ${frame.url === '' ? '' : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`}`.trim()
    byFunction.set(name, (byFunction.get(name) ?? 0) + us / 1000)
    const a = area(frame)
    byArea.set(a, (byArea.get(a) ?? 0) + us / 1000)
  }
  const sorted = (m: Map<string, number>): SelfTime[] => [...m].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms)
  return { totalMs: (profile.endTime - profile.startTime) / 1000, byFunction: sorted(byFunction), byArea: sorted(byArea) }
}

/** The summary as text. */
export function formatSummary(summary: ReturnType<typeof summarise>, top: number): string {
  const pct = (ms: number): string => `${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)}%`
  const row = (r: SelfTime): string => `${r.ms.toFixed(0).padStart(7)} ms ${pct(r.ms)}  ${r.name}`
  return [
    `wall ${summary.totalMs.toFixed(0)} ms`,
    '',
    'self time by area:',
    ...summary.byArea.slice(0, top).map(row),
    '',
    'self time by function:',
    ...summary.byFunction.slice(0, top).map(row),
  ].join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2)
  if (file === undefined) {
    process.stderr.write('usage: node benchmarks/dist/profile-summary.js PROFILE.cpuprofile [TOP]\n')
    process.exit(2)
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  process.stdout.write(`${formatSummary(summarise(profile), Number(top ?? 25))}\n`)
}
