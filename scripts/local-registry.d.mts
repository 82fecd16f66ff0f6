/** Types of local-registry.mjs. */
export type LocalRegistry = { url: string; packages: string[]; prebuildHost: string | undefined; close(): Promise<void> }
export declare function startLocalRegistry(options: { packs: string; upstream?: string; port?: number }): Promise<LocalRegistry>
