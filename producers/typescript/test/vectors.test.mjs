// Every vector of schemas/test-vectors/events.json (the ledger's own verdicts): the reason code
// of each invalid event, the canonical form and payload hash of each valid one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { validate, canonicalEvent, payloadHash, xxh3Hex128 } from '../dist/index.js';
import { parseLossless } from './lossless-json.mjs';

const vectorsPath = process.env.UL_TEST_VECTORS ??
    fileURLToPath(new URL('../../../schemas/test-vectors/events.json', import.meta.url));
const vectors = parseLossless(readFileSync(vectorsPath, 'utf8'));

function durationMs(text) {
    const match = /^([0-9]+)([smhd])$/.exec(text);
    assert.ok(match, `duration ${text}`);
    return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2]];
}

const now = new Date(vectors.now);
const options = { maxEventAgeMs: durationMs(vectors.max_event_age), maxFutureMs: durationMs(vectors.max_future) };

test('the vectors file is format 1 and not empty', () => {
    assert.equal(vectors.format.token, '1');
    assert.ok(vectors.valid.length > 0);
    assert.ok(vectors.invalid.length > 0);
});

for (const vector of vectors.valid) {
    test(`valid: ${vector.name}`, () => {
        assert.equal(validate(vector.event, now, options), null);
        const canonical = canonicalEvent(vector.event);
        assert.equal(canonical, vector.canonical);
        assert.equal(payloadHash(vector.event), vector.payload_hash);
        assert.equal(xxh3Hex128(canonical), vector.payload_hash);
    });
}

for (const vector of vectors.invalid) {
    test(`invalid (${vector.reason}): ${vector.name}`, () => {
        const error = validate(vector.event, now, options);
        assert.ok(error !== null, 'accepted an invalid event');
        assert.equal(error.reason, vector.reason, error.message);
    });
}
