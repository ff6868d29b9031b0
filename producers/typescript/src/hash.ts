// The payload hash: XXH3-128 (seed 0) of the canonical event bytes, 32 lowercase hex digits,
// high 64 bits first (xxHash's canonical form). Computed by @node-rs/xxhash (a Rust xxhash
// binding with prebuilt binaries per platform), loaded on first use so that a platform without a
// binary can still send events: only payloadHash() then throws.

import { canonicalEvent } from './event';

interface Xxh3Module {
    xxh3: { xxh128(input: Uint8Array | string, seed?: bigint): bigint };
}

let xxhash: Xxh3Module | null = null;

/** XXH3-128 of the given bytes (or the UTF-8 bytes of a string), as 32 lowercase hex digits. */
export function xxh3Hex128(data: Uint8Array | string): string {
    if (xxhash === null) {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        xxhash = require('@node-rs/xxhash') as Xxh3Module;
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return xxhash.xxh3.xxh128(bytes, 0n).toString(16).padStart(32, '0');
}

/** The payload hash of an event (its canonical form's XXH3-128): equal hashes = same event. */
export function payloadHash(event: unknown): string {
    return xxh3Hex128(canonicalEvent(event));
}
