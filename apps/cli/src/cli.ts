#!/usr/bin/env node
import { tuneV8 } from './v8-tuning.js'
import { main } from './main.js'

// Before any command module runs (a static import runs before this module's body, but the
// command's modules are imported by main, later).
tuneV8()

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
