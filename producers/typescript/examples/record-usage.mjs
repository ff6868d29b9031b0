// Records one usage event and prints the ledger's verdict.
//   npm run build
//   node examples/record-usage.mjs --url http://127.0.0.1:8080 --key acme-key \
//       --tenant acme --meter tokens --quantity 1500
// In your own code: import { UsageClient } from '@usage-ledger/client';
import { parseArgs } from 'node:util';

import { UsageClient, InvalidEventError, DeliveryError } from '../dist/index.js';

const { values } = parseArgs({
    options: {
        url: { type: 'string', default: 'http://127.0.0.1:8080' },
        key: { type: 'string' },
        tenant: { type: 'string', default: 'acme' },
        meter: { type: 'string', default: 'tokens' },
        quantity: { type: 'string', default: '1' },
        subject: { type: 'string' },
        'idempotency-key': { type: 'string' },
    },
});
if (!values.key) {
    console.error('usage: record-usage.mjs --key API_KEY [--url URL] [--tenant T] [--meter M] [--quantity Q] [--subject S] [--idempotency-key K]');
    process.exit(2);
}

const client = new UsageClient({ baseUrl: values.url, apiKey: values.key });
try {
    const verdict = await client.record({
        tenantId: values.tenant,
        meter: values.meter,
        quantity: values.quantity, // a decimal string: exact, never a float
        subject: values.subject,
        idempotencyKey: values['idempotency-key'], // default: a new UUIDv7
        properties: { source: 'record-usage example' },
    });
    console.log(JSON.stringify(verdict));
} catch (error) {
    if (error instanceof InvalidEventError) {
        console.error(`invalid event (${error.reason}): ${error.detail}`);
    } else if (error instanceof DeliveryError) {
        console.error(`not confirmed: ${error.message}; resend with idempotency key ${error.idempotencyKey}`);
    } else {
        throw error;
    }
    process.exitCode = 1;
} finally {
    await client.close();
}
