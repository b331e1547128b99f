#!/usr/bin/env node
import { main } from './main.js'

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), signals: process })
// Let stdout drain (a pipe to jq, a CI log) before leaving with the status.
process.exitCode = code
setTimeout(() => process.exit(code), 1000).unref()
