/**
 * Where the DCAP quote and collateral vectors live (real quotes and Intel-signed collateral copied from
 * public repositories; provenance, licences and the verification matrix in `vectors/README.md`).
 */
import { fileURLToPath } from 'node:url'

/** The vectors directory (absolute, ends with a separator). */
export const vectorsDir: string = fileURLToPath(new URL('../vectors/', import.meta.url))
