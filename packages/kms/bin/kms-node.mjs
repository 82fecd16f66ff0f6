#!/usr/bin/env node
// Entry of a KMS node inside a CVM (docs/kms.md "Running a node"); sources are TypeScript, compiled by tsx on first use.
import { register } from 'tsx/esm/api'

register()
const { runProcess } = await import('../src/main.ts')
await runProcess()
