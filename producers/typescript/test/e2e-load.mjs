// The load half of tests/e2e/sdk_typescript.sh: sends EVENTS distinct events (plus some sent
// twice on purpose with the same key and payload) through UsageClient, one client per tenant,
// to URL (the flaky proxy in front of `usage-ledger up`), then polls each tenant's
// GET /v1/tenants/{t}/usage until every meter's `used` and `count` equal the sums computed here
// (exact, in bigint micro-units) or the deadline passes. Prints one summary line; exits 1 on any
// mismatch, rejected event, conflict or invalid verdict.
// Usage: node e2e-load.mjs SDK_DIR URL ADMIN_KEY TENANT:KEY[,TENANT:KEY...] EVENTS SEED
import { request } from 'node:http';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const [sdkDir, baseUrl, adminKey, tenantList, eventCount, seedText] = process.argv.slice(2);
const { UsageClient, QueueFullError } = await import(pathToFileURL(join(sdkDir, 'dist', 'index.js')).href);
const tenants = tenantList.split(',').map((pair) => pair.split(':'));
const total = Number(eventCount);
const seed = Number(seedText);
console.log(`e2e-load: ${total} events, ${tenants.length} tenants, seed ${seed}`);

// xorshift32: a repeatable stream from the seed.
let state = seed >>> 0 || 1;
const random = (limit) => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state % limit;
};

const meters = ['api_calls', 'tokens', 'audio_minutes'];
const expected = new Map(); // "tenant/meter" -> { micros, count }
const clients = new Map(tenants.map(([tenant, key]) => [tenant, new UsageClient({
    baseUrl, apiKey: key, batchSize: 100, maxQueue: 2000, timeoutMs: 30_000,
})]));
const problems = [];
const statuses = {};
const verdicts = [];

async function recordWithBackpressure(client, record) {
    for (;;) {
        try {
            return { verdict: client.record(record) }; // wrapped: awaiting this must not wait for the verdict
        } catch (error) {
            if (!(error instanceof QueueFullError)) throw error;
            await client.flush(); // the queue is full: wait for answers, then try again
        }
    }
}

const timestamp = new Date();
for (let index = 0; index < total; ++index) {
    const [tenant] = tenants[random(tenants.length)];
    const meter = meters[random(meters.length)];
    // Up to 6 fraction digits, as a decimal string; the sum here is exact bigint micros.
    const micros = BigInt(random(50_000_000)) + 1n;
    const quantity = `${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, '0')}`;
    const record = {
        tenantId: tenant, meter, quantity, timestamp,
        idempotencyKey: `e2e-${seed}-${index}`, properties: { model: `m${random(3)}` },
    };
    const cell = expected.get(`${tenant}/${meter}`) ?? { micros: 0n, count: 0 };
    cell.micros += micros;
    cell.count += 1;
    expected.set(`${tenant}/${meter}`, cell);
    const client = clients.get(tenant);
    verdicts.push((await recordWithBackpressure(client, record)).verdict);
    if (index % 50 === 7) verdicts.push((await recordWithBackpressure(client, record)).verdict); // the same event again
}

const settled = await Promise.allSettled(verdicts);
for (const outcome of settled) {
    if (outcome.status === 'rejected') {
        problems.push(`rejected: ${outcome.reason}`);
        continue;
    }
    statuses[outcome.value.status] = (statuses[outcome.value.status] ?? 0) + 1;
    if (outcome.value.status !== 'accepted' && outcome.value.status !== 'duplicate') {
        problems.push(`verdict ${JSON.stringify(outcome.value)}`);
    }
}
const retried = settled.filter((o) => o.status === 'fulfilled' && o.value.attempts > 1).length;
await Promise.all([...clients.values()].map((client) => client.close()));
console.log(`e2e-load: sent ${settled.length} (${settled.length - total} on purpose twice), verdicts ${JSON.stringify(statuses)}, ${retried} retried`);
if ((statuses.accepted ?? 0) > total) problems.push(`${statuses.accepted} accepted for ${total} distinct events`);

function getJson(path) {
    return new Promise((resolve, reject) => {
        const req = request(new URL(path, baseUrl), { headers: { Authorization: `Bearer ${adminKey}` }, agent: false }, (res) => {
            const chunks = [];
            res.on('data', (chunk) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
    });
}

function formatMicros(micros) {
    const fraction = (micros % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
    return `${micros / 1_000_000n}${fraction ? '.' + fraction : ''}`;
}

// The projection applies the ledger's entries shortly after they commit: poll with a deadline.
// (Through the proxy too: a dropped answer is retried.)
const deadline = Date.now() + 120_000;
let mismatch = [];
for (;;) {
    mismatch = [];
    for (const [tenant] of tenants) {
        let answer;
        try {
            answer = await getJson(`v1/tenants/${tenant}/usage`);
        } catch (error) {
            mismatch.push(`${tenant}: ${error.message}`);
            continue;
        }
        if (answer.status !== 200) {
            mismatch.push(`${tenant}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
            continue;
        }
        const usage = JSON.parse(answer.body);
        for (const meter of meters) {
            const want = expected.get(`${tenant}/${meter}`) ?? { micros: 0n, count: 0 };
            const got = usage.meters.find((m) => m.meter === meter) ?? { used: '0', count: 0 };
            if (got.used !== formatMicros(want.micros) || got.count !== want.count) {
                mismatch.push(`${tenant}/${meter}: used ${got.used} count ${got.count}, want ${formatMicros(want.micros)} count ${want.count}`);
            }
        }
    }
    if (mismatch.length === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200)); // poll interval, under the deadline
}
problems.push(...mismatch);
if (problems.length > 0) {
    console.log(`FAIL: ${problems.length} problems:\n${problems.slice(0, 20).join('\n')}`);
    process.exit(1);
}
const summary = [...expected].map(([cell, { micros, count }]) => `${cell}=${formatMicros(micros)}/${count}`).join(' ');
console.log(`ok: usage equals the independent sums: ${summary}`);
