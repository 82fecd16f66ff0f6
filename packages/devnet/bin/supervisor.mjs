#!/usr/bin/env node
// Entry of the detached devnet supervisor: the compiled supervisor (dist/).
import '../dist/supervisor.js'
