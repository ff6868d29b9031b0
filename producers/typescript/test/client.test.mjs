// UsageClient against an in-process fake of POST /v1/events: batching, verdicts, retries with
// the same keys after lost answers / 5xx / 429 / 504 pending, refusals, the bounded queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import {
    UsageClient, InvalidEventError, QueueFullError, DeliveryError, ClosedError, uuidv7,
    formatUuidV7, UuidV7Generator, canonicalEvent, parseQuantity, formatMicros,
} from '../dist/index.js';

// A fake ledger: answers each request with handler(events, request, response) or, by default,
// accepted/duplicate per (tenant, key) like the ledger does.
async function fakeLedger(handler) {
    const seen = new Map();
    const requests = [];
    const server = createServer((request, response) => {
        const chunks = [];
        request.on('data', (chunk) => chunks.push(chunk));
        request.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            const events = JSON.parse(body);
            requests.push({ url: request.url, headers: request.headers, body, events });
            const verdicts = () => events.map((event, index) => {
                const id = `${event.tenant_id}/${event.idempotency_key}`;
                const status = seen.has(id) ? 'duplicate' : 'accepted';
                seen.set(id, event);
                return { index, status, ledger_partition: 0, ledger_sequence: seen.size };
            });
            const reply = (status, body) => {
                response.writeHead(status, { 'Content-Type': 'application/json' });
                response.end(JSON.stringify(body));
            };
            if (handler && handler({ number: requests.length, events, request, response, reply, verdicts })) return;
            reply(200, { durability: 'ledger', events: verdicts() });
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    return {
        url: `http://127.0.0.1:${port}`,
        requests,
        seen,
        close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
    };
}

const fast = { backoffInitialMs: 1, backoffMaxMs: 5, lingerMs: 1 };
const event = (overrides = {}) => ({ tenantId: 'acme', meter: 'tokens', quantity: '1.5', ...overrides });

test('record batches events, sends canonical JSON with the Bearer key, returns verdicts', async () => {
    const ledger = await fakeLedger();
    const client = new UsageClient({ baseUrl: ledger.url, apiKey: 'k1', batchSize: 10, ...fast });
    const verdicts = await Promise.all(Array.from({ length: 25 }, (_, i) =>
        client.record(event({ quantity: String(i), subject: 'u', properties: { model: 'x', n: 2 } }))));
    await client.close();
    await ledger.close();
    assert.equal(verdicts.length, 25);
    assert.ok(verdicts.every((v) => v.status === 'accepted' && v.attempts === 1 && v.tenantId === 'acme'));
    assert.equal(new Set(verdicts.map((v) => v.idempotencyKey)).size, 25);
    assert.ok(ledger.requests.length >= 3 && ledger.requests.every((r) => r.events.length <= 10));
    const first = ledger.requests[0];
    assert.equal(first.url, '/v1/events?wait=committed');
    assert.equal(first.headers.authorization, 'Bearer k1');
    assert.equal(first.headers['content-type'], 'application/json');
    for (const sent of ledger.requests.flatMap((r) => r.events)) {
        assert.equal(typeof sent.quantity, 'string');
        assert.equal(canonicalEvent(sent), JSON.stringify(sent));
    }
});

test('a lost answer is retried with the same keys: the second try says duplicate', async () => {
    const ledger = await fakeLedger(({ number, response, verdicts }) => {
        if (number !== 1) return false;
        verdicts(); // committed ...
        response.socket.destroy(); // ... but the answer never arrives
        return true;
    });
    const client = new UsageClient({ baseUrl: ledger.url, apiKey: 'k', ...fast });
    const verdict = await client.record(event({ idempotencyKey: 'req-1' }));
    await client.close();
    await ledger.close();
    assert.equal(verdict.status, 'duplicate');
    assert.equal(verdict.attempts, 2);
    assert.deepEqual(ledger.requests.map((r) => r.events[0].idempotency_key), ['req-1', 'req-1']);
});

test('503, 429 and 500 are retried; 504 resends only the pending events', async () => {
    const ledger = await fakeLedger(({ number, reply, verdicts, events }) => {
        if (number === 1) return reply(503, { error: 'ledger_unavailable' }), true;
        if (number === 2) return reply(429, { error: 'rate_limited' }), true;
        if (number === 3) return reply(500, {}), true;
        if (number === 4) {
            const answers = verdicts();
            answers[1] = { index: 1, status: 'pending', error: 'not committed by the ledger in time' };
            return reply(504, { durability: 'ledger', events: answers }), true;
        }
        assert.equal(events.length, 1);
        return false;
    });
    const client = new UsageClient({ baseUrl: ledger.url, apiKey: 'k', ...fast });
    const verdicts = await client.send([event({ idempotencyKey: 'a' }), event({ idempotencyKey: 'b' }), event({ idempotencyKey: 'c' })]);
    await client.close();
    await ledger.close();
    assert.deepEqual(verdicts.map((v) => [v.idempotencyKey, v.status, v.attempts]),
        [['a', 'accepted', 4], ['b', 'duplicate', 5], ['c', 'accepted', 4]]);
    assert.deepEqual(ledger.requests[4].events.map((e) => e.idempotency_key), ['b']);
});

test('server verdicts invalid and conflict are returned, not thrown', async () => {
    const ledger = await fakeLedger(({ reply, events }) => {
        reply(200, { durability: 'ledger', events: events.map((_, index) => (
            index === 0 ? { index, status: 'conflict', ledger_partition: 1, ledger_sequence: 7 } : { index, status: 'invalid', error: 'bad_timestamp' })) });
        return true;
    });
    const client = new UsageClient({ baseUrl: ledger.url, apiKey: 'k', ...fast });
    const [conflict, invalid] = await client.send([event(), event()]);
    await client.close();
    await ledger.close();
    assert.deepEqual([conflict.status, conflict.ledgerPartition, conflict.ledgerSequence], ['conflict', 1, 7]);
    assert.deepEqual([invalid.status, invalid.error], ['invalid', 'bad_timestamp']);
});

test('401 is a DeliveryError at once (not retried); retries run out with a DeliveryError', async () => {
    const refusing = await fakeLedger(({ reply }) => (reply(401, { error: 'unauthorized' }), true));
    const client = new UsageClient({ baseUrl: refusing.url, apiKey: 'wrong', ...fast });
    await assert.rejects(client.record(event()), (error) =>
        error instanceof DeliveryError && error.httpStatus === 401 && !error.retryable && error.attempts === 1);
    await client.close();
    assert.equal(refusing.requests.length, 1);
    await refusing.close();

    const failing = await fakeLedger(({ reply }) => (reply(503, { error: 'ledger_unavailable' }), true));
    const retrying = new UsageClient({ baseUrl: failing.url, apiKey: 'k', maxRetries: 3, ...fast });
    await assert.rejects(retrying.record(event({ idempotencyKey: 'x' })), (error) =>
        error instanceof DeliveryError && error.retryable && error.attempts === 4 && error.idempotencyKey === 'x');
    await retrying.close();
    assert.equal(failing.requests.length, 4);
    await failing.close();
});

test('a connection refused is retried, then reported', async () => {
    const ledger = await fakeLedger();
    const url = ledger.url;
    await ledger.close();
    const client = new UsageClient({ baseUrl: url, apiKey: 'k', maxRetries: 2, ...fast });
    await assert.rejects(client.record(event()), (error) => error instanceof DeliveryError && error.attempts === 3);
    await client.close();
});

test('invalid events throw InvalidEventError with the reason code, synchronously', () => {
    const client = new UsageClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k' });
    const reasonOf = (record) => {
        try {
            client.record(record);
        } catch (error) {
            assert.ok(error instanceof InvalidEventError);
            return error.reason;
        }
        assert.fail('record accepted an invalid event');
    };
    assert.equal(reasonOf(event({ tenantId: 'a b' })), 'bad_tenant');
    assert.equal(reasonOf(event({ meter: 'Tokens' })), 'bad_meter');
    assert.equal(reasonOf(event({ quantity: 1.5 })), 'bad_quantity'); // a float: never guessed at
    assert.equal(reasonOf(event({ quantity: '-1' })), 'bad_quantity');
    assert.equal(reasonOf(event({ quantity: '0.0000001' })), 'bad_quantity');
    assert.equal(reasonOf(event({ quantity: '1000000000000.000001' })), 'bad_quantity');
    assert.equal(reasonOf(event({ timestamp: '2020-01-01T00:00:00Z' })), 'bad_timestamp');
    assert.equal(reasonOf(event({ idempotencyKey: '' })), 'bad_key');
    assert.equal(reasonOf(event({ subject: 'x'.repeat(129) })), 'bad_subject');
    assert.equal(reasonOf(event({ properties: { a: null } })), 'bad_properties');
    assert.equal(reasonOf(event({ properties: { a: Infinity } })), 'bad_properties');
    assert.equal(client.pending, 0);
});

test('quantities stay exact: strings, bigints and integers, never floats', async () => {
    assert.deepEqual(parseQuantity('0.1'), { ok: true, micros: 100000n });
    assert.deepEqual(parseQuantity('1000000000000'), { ok: true, micros: 10n ** 18n });
    assert.deepEqual(parseQuantity('1.5e3'), { ok: true, micros: 1_500_000_000n });
    assert.equal(formatMicros(300000n), '0.3');
    const ledger = await fakeLedger();
    const client = new UsageClient({ baseUrl: ledger.url, apiKey: 'k', ...fast });
    await client.send([event({ quantity: '0.1' }), event({ quantity: 999999999999n }), event({ quantity: 42 }),
        event({ quantity: '0.2' }), event({ quantity: '1.500000' })]);
    await client.close();
    await ledger.close();
    assert.deepEqual(ledger.requests[0].events.map((e) => e.quantity), ['0.1', '999999999999', '42', '0.2', '1.5']);
});

test('the queue is bounded: QueueFullError past maxQueue; ClosedError after close', async () => {
    let release;
    const gate = new Promise((resolve) => { release = resolve; });
    const ledger = await fakeLedger(({ reply, verdicts }) => {
        const answers = verdicts();
        gate.then(() => reply(200, { durability: 'ledger', events: answers }));
        return true;
    });
    const client = new UsageClient({ baseUrl: ledger.url, apiKey: 'k', maxQueue: 3, ...fast });
    const promises = [client.record(event()), client.record(event()), client.record(event())];
    assert.equal(client.pending, 3);
    assert.throws(() => client.record(event()), QueueFullError);
    release();
    await Promise.all(promises);
    assert.equal(client.pending, 0);
    await client.record(event()); // room again
    await client.close();
    assert.throws(() => client.record(event()), ClosedError);
    await ledger.close();
});

test('uuidv7: version 7, variant 10, strictly increasing also when the clock steps back', () => {
    const pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    assert.match(uuidv7(), pattern);
    let now = 1_800_000_000_000;
    const clock = () => now;
    const generator = new UuidV7Generator(clock);
    let previous = '';
    for (let i = 0; i < 10_000; ++i) {
        if (i === 5000) now -= 10_000; // the clock steps back
        if (i % 100 === 0) ++now;
        const next = generator.next();
        assert.match(next, pattern);
        assert.ok(next > previous, `${next} <= ${previous}`);
        previous = next;
    }
    assert.equal(formatUuidV7(0x0123456789ab, 0xabc, new Uint8Array(10).fill(0xff)),
        '01234567-89ab-7abc-bfff-ffffffffffff');
});
