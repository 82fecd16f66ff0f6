#!/usr/bin/env node
// The bundle's entry (what the CVM runs): the sources are TypeScript, compiled by tsx on first use.
import { register } from 'tsx/esm/api'

register()
await import('./src/main.ts')
