#!/usr/bin/env node
// Entry of a KMS node inside a CVM (docs/kms.md "Running a node"): the compiled node (dist/).
import { runProcess } from '../dist/main.js'

await runProcess()
