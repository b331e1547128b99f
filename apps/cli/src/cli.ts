#!/usr/bin/env node
import { main } from './main.js'

const context = {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  signals: process,
  // Only `haul get -i -` touches stdin; opening it otherwise could hold the process open.
  get stdin(): NodeJS.ReadableStream {
    return process.stdin
  },
}
const code = await main(process.argv.slice(2), context)
// Let stdout drain (a pipe to jq, a CI log) before leaving with the status.
process.exitCode = code
setTimeout(() => process.exit(code), 1000).unref()
