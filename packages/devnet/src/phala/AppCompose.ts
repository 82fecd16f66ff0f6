/**
 * Phala Cloud's server-side app-compose (reference: providers.md §1.6 "do not compute it; take it from the server";
 * dstack `docs/normalized-app-compose.md`): from the `compose_file` object of `POST /cvms/provision` the server
 * builds the dstack app-compose.json itself and hashes ITS bytes. The stand-in serializes the way `@phala/cloud`'s own
 * `getComposeHash` does (keys sorted recursively, 4-space indented JSON, `": "` → `":"`), which is not the byte form a
 * client sends, so a client that hashes its own bytes gets another hash — the caveat is real here too.
 */
import { createHash } from 'node:crypto'

/** The `compose_file` of a provision request (`ProvisionCvmRequestSchema.compose_file`). */
export type ComposeFileInput = {
  docker_compose_file: string
  allowed_envs?: string[] | undefined
  name?: string | undefined
  pre_launch_script?: string | undefined
  kms_enabled?: boolean | undefined
  public_logs?: boolean | undefined
  public_sysinfo?: boolean | undefined
  public_tcbinfo?: boolean | undefined
  gateway_enabled?: boolean | undefined
  storage_fs?: 'ext4' | 'zfs' | undefined
}

/** Compose plus pre-launch script may total at most this many bytes (`MAX_COMPOSE_PAYLOAD_BYTES`). */
export const maxPayloadBytes = 200 * 1024

/**
 * The app-compose document Phala builds for a CVM named `name` (dstack manifest v2, KMS key provider).
 *
 * @example
 * const doc = AppCompose.build({ docker_compose_file: 'services: …', allowed_envs: ['A'] }, { name: 'agent-1' })
 */
export function build(input: ComposeFileInput, options: { name: string }): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    manifest_version: 2,
    name: input.name && input.name.length > 0 ? input.name : options.name,
    runner: 'docker-compose',
    docker_compose_file: input.docker_compose_file,
    allowed_envs: [...(input.allowed_envs ?? [])],
    features: ['kms', 'tproxy-net'],
    kms_enabled: true,
    key_provider: 'kms',
    gateway_enabled: input.gateway_enabled ?? true,
    local_key_provider_enabled: false,
    no_instance_id: false,
    public_logs: input.public_logs ?? true,
    public_sysinfo: input.public_sysinfo ?? true,
    public_tcbinfo: input.public_tcbinfo ?? true,
    secure_time: false,
    storage_fs: input.storage_fs ?? 'zfs',
  }
  if (input.pre_launch_script) doc.pre_launch_script = input.pre_launch_script
  return doc
}

/** The bytes Phala writes as app-compose.json (what RTMR3's compose-hash event and the KMS see). */
export function serialize(doc: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(sortKeys(doc), null, 4).replace(/": /g, '":'))
}

/** SHA-256 of `bytes`, lowercase hex without `0x` (how Phala's API writes compose hashes). */
export function hash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * The image a docker-compose text pins by digest (`image: <name>@sha256:<64 hex>`); undefined when it pins none or
 * more than one (the devnet's CVMs run one bundle).
 */
export function pinnedImage(dockerCompose: string): { name: string; digest: string } | undefined {
  const found = [...dockerCompose.matchAll(/^\s*image:\s*["']?([^\s"'@]+)@sha256:([0-9a-f]{64})["']?\s*$/gm)]
  if (found.length !== 1) return undefined
  const [, name, digest] = found[0] as RegExpMatchArray
  return { name: name as string, digest: digest as string }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    )
  return value
}
