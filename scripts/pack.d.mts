/** Types of pack.mjs. */
export declare const publishable: readonly string[]
export type Packed = { name: string; version: string; file: string; size: number; files: number }
export declare function pack(out: string): Packed[]
