/**
 * Preloaded (`node --import`) by the devnet host into every CVM program: module resolution stays inside the CVM's
 * bundle (its working directory). A real CVM has nothing but its image; on the devnet the bundle lives in a directory
 * whose parents may hold other `node_modules`, and Node's lookup walks up into them — code the compose hash does not
 * cover. ES module imports that resolve outside the bundle fail instead (Node 20's loader hooks do not see CommonJS
 * `require` calls; inside a bundle those stay within its `node_modules`).
 */
import { register } from 'node:module'
import { pathToFileURL } from 'node:url'

register('./confineHooks.js', import.meta.url, { data: { root: pathToFileURL(`${process.cwd()}/`).href } })
