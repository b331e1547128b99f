import type { BenchConfig } from './config.js'
import { formatSize } from './config.js'
import type { Machine } from './machine.js'
import type { ComparisonResult } from './result.js'

const cell = (s: string): string => s.replace(/\|/g, '\\|')

function table(result: ComparisonResult): string[] {
  // The column shows haul's ratios (rows nothing is compared to); ratios between peers (the floor
  // to curl) go below the table.
  const peers = new Set(result.ratios.map((r) => r.to))
  const haulLabels = new Set(result.ratios.map((r) => r.of).filter((of) => !peers.has(of)))
  // A row two haul commands are compared to shows the first one's ratio; the other's goes below.
  const shown = new Set<(typeof result.ratios)[number]>()
  for (const row of result.rows) {
    const first = result.ratios.find((r) => haulLabels.has(r.of) && r.to === row.label)
    if (first !== undefined) shown.add(first)
  }
  const others = result.ratios.filter((r) => !shown.has(r))
  const rounds = result.rows[0]?.samples.length ?? 0
  const lines = [
    `### ${result.title}`,
    '',
    `${rounds} measured round${rounds === 1 ? '' : 's'}.`,
    '',
    '| command | median s | MB/s | peak RSS MiB | haul ÷ this (median of rounds) |',
    '|---|---:|---:|---:|---:|',
  ]
  for (const row of result.rows) {
    const ratio = [...shown].find((r) => r.to === row.label)?.median
    const bytes = row.bytes ?? result.bytes
    lines.push(`| \`${cell(row.label)}\` | ${row.medianSeconds.toFixed(2)} | ${(bytes / row.medianSeconds / 1e6).toFixed(0)} | ${row.peakRssMiB.toFixed(0)} | ${ratio === undefined ? '—' : ratio.toFixed(2)} |`)
  }
  lines.push('', '| target | limit | this run | met |', '|---|---|---|---|')
  for (const t of result.targets) lines.push(`| ${cell(t.what)} | ${t.limit} | ${t.actual} | ${t.met ? 'yes' : '**no**'} |`)
  if (others.length > 0) lines.push('', ...others.map((r) => `- \`${cell(r.of)}\` ÷ \`${cell(r.to)}\`: ${r.median.toFixed(2)} (median of rounds)`))
  if (result.notes.length > 0) lines.push('', ...result.notes.map((n) => `- ${n}`))
  return lines
}

/** The Markdown the README shows: the machine, one table per comparison, how to reproduce. */
export function markdown(results: ComparisonResult[], machine: Machine, config: BenchConfig, started: Date): string {
  return [
    `## Benchmarks${config.quick ? ' (quick smoke run: small files, not for the README)' : ''}`,
    '',
    `Ran ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine.nproc} CPUs (${machine.cpu}), ${machine.memoryGiB} GiB RAM, ${machine.kernel}, Node ${machine.node}; ${machine.peers.curl}; ${machine.peers.aria2c}; ${machine.peers.nginx}. Load average ${machine.load.start.toFixed(1)} at the start, ${machine.load.end?.toFixed(1) ?? '?'} at the end (on ${machine.nproc} CPUs; other work skews the times).`,
    ...(machine.extraCaCerts === undefined
      ? []
      : [
          `NODE_EXTRA_CA_CERTS was set (\`${machine.extraCaCerts.file}\`): every Node.js start parsed that bundle first (\`node -e 0\` took ${machine.extraCaCerts.startMs} ms with it, ${machine.extraCaCerts.withoutMs} ms without). No comparison uses TLS, and curl and aria2c never pay it, so the bench unsets it for every command.`,
        ]),
    ...(machine.pageReporting === undefined
      ? []
      : [
          machine.pageReporting.alreadyOff === true
            ? `The guest kernel can report free memory to its host (virtio-balloon free page reporting, ${(machine.pageReporting.reportedKiB / 2 ** 20).toFixed(1)} GiB so far), but the reporting was off already when the run began (\`page_reporting_order\` 11), so every contender wrote into memory the guest holds; the bench left it as it found it.`
            : `The guest kernel reports free memory to its host (virtio-balloon free page reporting, blocks of 2^${machine.pageReporting.order} pages, ${(machine.pageReporting.reportedKiB / 2 ** 20).toFixed(1)} GiB so far): whichever program next uses such pages pays the host's faults inside its copies, which made writing a GiB into the page cache take 0.3 s in one run and 1.1–1.8 s in the next. The bench turns the reporting off while it runs (\`page_reporting_order\` 11) and sets it back after, so every contender writes into memory the guest holds.`,
        ]),
    `Each comparison alternates its commands (A B A B …) for one warm-up round and ${config.pairs} measured rounds (more where a comparison says so); times are medians, ratios the median of the per-round ratios, RSS the peak (\`/usr/bin/time -f %M\`). Servers run on 127.0.0.1; \`sync\` runs before every timed run so writeback of one run does not land in the next, and (as root) the page cache is dropped before each comparison, so each starts from the same memory state.`,
    '',
    ...results.flatMap((r) => [...table(r), '']),
    'Reproduce:',
    '',
    '```sh',
    `pnpm bench                  # full run (sizes ${formatSize(config.sizes.loopback)} … ${formatSize(Math.max(...config.sizes.scaling))}), a few minutes`,
    'BENCH_QUICK=1 pnpm bench    # smoke run with small files',
    'BENCH_ONLY=1,3 BENCH_PAIRS=5 pnpm bench',
    '```',
    '',
  ].join('\n')
}
