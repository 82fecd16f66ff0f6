#!/usr/bin/env node
// The `regent` command. Sources are TypeScript; tsx compiles them on first use (cached).
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/main.ts')
process.exitCode = await main(process.argv.slice(2))
