/** Calls to the devnet host API (docs/devnet.md "Host API") for `regent deploy`, `standby`, `demo` and `dev`. */
import type { CvmRecord, DevnetFile } from '@regent-tee/devnet'
import { CliError } from '../errors.js'

const docs = 'docs/cli/deploy.md'

/** `fetch` on the host; a 4xx/5xx becomes a CliError with the host's message. */
export async function call<T>(file: DevnetFile.DevnetFile, path: string, body?: unknown): Promise<T> {
  const { res, bytes } = await send(file, path, body)
  const text = new TextDecoder().decode(bytes)
  return (res.headers.get('content-type') ?? '').startsWith('application/json') ? (JSON.parse(text) as T) : (text as T)
}

async function send(file: DevnetFile.DevnetFile, path: string, body?: unknown): Promise<{ res: Response; bytes: Uint8Array }> {
  const init: RequestInit =
    body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
  const res = await fetch(`${file.hostUrl}${path}`, { ...init, signal: AbortSignal.timeout(60_000) }).catch((cause: unknown) => {
    throw new CliError('devnet.unreachable', `the devnet host at ${file.hostUrl} did not answer`, {
      hint: 'check `regent dev status`',
      docs,
      cause,
    })
  })
  const bytes = new Uint8Array(await res.arrayBuffer())
  if (!res.ok) {
    let message = `host answered HTTP ${res.status}`
    try {
      message = (JSON.parse(new TextDecoder().decode(bytes)) as { error?: { message?: string } }).error?.message ?? message
    } catch {}
    throw new CliError('devnet.request_failed', `${path}: ${message}`, { docs })
  }
  return { res, bytes }
}

/** Launches a CVM; without `bundle` the host runs the bundle its store holds for the digest the compose pins. */
export const launch = (
  file: DevnetFile.DevnetFile,
  params: { compose: Uint8Array; bundle?: string; appId: string; env: Record<string, string> },
) => call<CvmRecord>(file, '/v1/cvms', { ...params, compose: Buffer.from(params.compose).toString('base64') })

export const get = (file: DevnetFile.DevnetFile, cvmId: string) => call<CvmRecord>(file, `/v1/cvms/${encodeURIComponent(cvmId)}`)
export const list = (file: DevnetFile.DevnetFile) => call<{ cvms: CvmRecord[] }>(file, '/v1/cvms').then((r) => r.cvms)
export const stop = (file: DevnetFile.DevnetFile, cvmId: string) => call<CvmRecord>(file, `/v1/cvms/${encodeURIComponent(cvmId)}/stop`, {})
/** SIGKILL, as a crashing host: the program gets no chance to clean up. */
export const kill = (file: DevnetFile.DevnetFile, cvmId: string) => call<CvmRecord>(file, `/v1/cvms/${encodeURIComponent(cvmId)}/kill`, {})
/** The exact app-compose.json bytes a CVM was launched with (its compose hash is their SHA-256). */
export const compose = async (file: DevnetFile.DevnetFile, cvmId: string): Promise<Uint8Array> =>
  (await send(file, `/v1/cvms/${encodeURIComponent(cvmId)}/compose`)).bytes
/** A CVM's output: its last `tail` lines, or all of it. */
export const logs = (file: DevnetFile.DevnetFile, cvmId: string, tail?: number) =>
  call<string>(file, `/v1/cvms/${encodeURIComponent(cvmId)}/logs${tail === undefined ? '' : `?tail=${tail}`}`)
