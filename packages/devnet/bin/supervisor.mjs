#!/usr/bin/env node
// Entry of the detached devnet supervisor; sources are TypeScript, compiled by tsx on first use.
import { register } from 'tsx/esm/api'

register()
await import('../src/supervisor.ts')
