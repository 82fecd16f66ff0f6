#!/usr/bin/env node
// dstack KMS boot-auth webhook backed by RegentAppAuth (docs/targets/dstack.md): the compiled module (dist/).
import { runProcess } from '../dist/bootAuthMain.js'

await runProcess()
