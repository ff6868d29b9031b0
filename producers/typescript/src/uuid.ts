// UUIDv7 idempotency keys (RFC 9562), as the C++ client makes them (producers/uuid.h): 48-bit
// Unix milliseconds, version 7, a 12-bit counter in rand_a (started below 1024 each new
// millisecond, so it has room to count), variant 0b10, 62 random bits. Keys from one generator
// increase strictly, also within a millisecond and when the clock steps back (the last
// millisecond is reused; a counter overflow borrows the next millisecond).

import { randomBytes } from 'node:crypto';

const MAX_COUNTER = 0xfff;

export class UuidV7Generator {
    private lastMs = -1;
    private counter = 0;

    constructor(private readonly clock: () => number = Date.now) {}

    next(): string {
        let ms = this.clock();
        const random = randomBytes(10);
        if (ms > this.lastMs) {
            this.lastMs = ms;
            this.counter = ((random[8] << 8) | random[9]) & 0x3ff; // below 1024
        } else if (this.counter < MAX_COUNTER) {
            ms = this.lastMs;
            ++this.counter;
        } else {
            ms = ++this.lastMs;
            this.counter = 0;
        }
        return formatUuidV7(ms, this.counter, random);
    }
}

/** The pure form: milliseconds, the 12-bit counter and at least 8 random bytes. */
export function formatUuidV7(ms: number, counter: number, random: Uint8Array): string {
    const bytes = new Uint8Array(16);
    let time = ms;
    for (let index = 5; index >= 0; --index) {
        bytes[index] = time % 256;
        time = Math.floor(time / 256);
    }
    bytes[6] = 0x70 | ((counter >> 8) & 0x0f);
    bytes[7] = counter & 0xff;
    bytes[8] = 0x80 | (random[0] & 0x3f);
    for (let index = 9; index < 16; ++index) bytes[index] = random[index - 8];
    const hex = Buffer.from(bytes).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const shared = new UuidV7Generator();

/** A new UUIDv7 (strictly increasing within this process). */
export function uuidv7(): string {
    return shared.next();
}
