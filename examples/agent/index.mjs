#!/usr/bin/env node
// Bundle entry of the example agent: the sources are TypeScript, compiled by tsx on first use.
import { register } from 'tsx/esm/api'

register()
await import('./src/main.ts')
