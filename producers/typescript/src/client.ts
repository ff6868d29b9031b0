// UsageClient: validates events, queues them (bounded), sends them in batches to
// POST /v1/events and retries with the same idempotency keys, so every event counts once.
// Single-threaded like everything in Node: record() runs on the caller's turn of the event
// loop, the sending happens in the background on the same loop.

import * as http from 'node:http';
import * as https from 'node:https';
import { randomInt } from 'node:crypto';

import { checkAndCanonicalize, InvalidEventError, JsonNumber, PropertyValue, ValidationOptions } from './event';
import { formatRfc3339 } from './time';
import { uuidv7 } from './uuid';

export interface UsageClientOptions {
    /** The ledger's query API, e.g. `http://127.0.0.1:8080` (what `usage-ledger up` prints). */
    baseUrl: string;
    /** A tenant API key (`account set --api-key`) or the admin key; sent as `Bearer`. */
    apiKey: string;
    /** Events per request (1..10000; a batch is also cut before 1 MiB of JSON). */
    batchSize?: number;
    /** Events recorded and not yet answered, at most; past it record() throws QueueFullError. */
    maxQueue?: number;
    /** Retries of a batch after a connection error, a timeout, 429 or 5xx (then DeliveryError). */
    maxRetries?: number;
    backoffInitialMs?: number;
    backoffMaxMs?: number;
    /** Per request, connect to last byte. */
    timeoutMs?: number;
    /** `committed`: verdicts from the ledger (fsynced); `acknowledged`: Kafka took the events. */
    wait?: 'committed' | 'acknowledged';
    /** How long record() waits for more events before sending a partial batch (default 5). */
    lingerMs?: number;
    /** The server's time window, for validation here (defaults: 35 days, 5 minutes). */
    maxEventAgeMs?: number;
    maxFutureMs?: number;
}

/** One usage event as the application gives it. */
export interface UsageRecord {
    tenantId: string;
    meter: string;
    /** An exact decimal: a string ("1500", "0.25"), a bigint or an integer number. */
    quantity: string | bigint | number | JsonNumber;
    subject?: string | null;
    properties?: Record<string, PropertyValue> | null;
    /** RFC 3339 string or Date; default: now. */
    timestamp?: string | Date;
    /** Default: a new UUIDv7. Reuse the same key to resend the same event. */
    idempotencyKey?: string;
}

export type VerdictStatus = 'accepted' | 'duplicate' | 'conflict' | 'invalid' | 'queued';

export interface Verdict {
    /**
     * accepted: recorded now; duplicate: the ledger had this (tenant, key) with the same payload
     * (also what a retry after a lost answer sees: then `attempts` > 1); conflict: the key was
     * used with another payload; invalid: the server refused it (`error` says why); queued:
     * wait='acknowledged', Kafka has it.
     */
    status: VerdictStatus;
    idempotencyKey: string;
    tenantId: string;
    error?: string;
    ledgerPartition?: number;
    ledgerSequence?: number;
    /** Requests that carried this event (1 unless it was retried). */
    attempts: number;
}

export class QueueFullError extends Error {
    constructor(readonly maxQueue: number) {
        super(`queue_full: ${maxQueue} events are waiting for an answer (maxQueue); retry later or raise maxQueue`);
        this.name = 'QueueFullError';
    }
}

export class ClosedError extends Error {
    constructor() {
        super('the client is closed');
        this.name = 'ClosedError';
    }
}

/**
 * The event was not confirmed: retries ran out, or the server refused the request (401, 403,
 * 413, ...; `retryable` false). It may have been recorded all the same (an answer can be lost):
 * send it again with the same `idempotencyKey` and it counts once.
 */
export class DeliveryError extends Error {
    constructor(message: string, readonly idempotencyKey: string, readonly tenantId: string,
                readonly attempts: number, readonly retryable: boolean,
                readonly httpStatus?: number, readonly body?: string) {
        super(message);
        this.name = 'DeliveryError';
    }
}

interface Item {
    canonical: string;
    key: string;
    tenant: string;
    attempts: number;
    resolve: (verdict: Verdict) => void;
    reject: (error: Error) => void;
}

type HttpOutcome =
    | { kind: 'answer'; status: number; body: string; retryAfterMs: number }
    | { kind: 'error'; error: Error };

const MAX_BODY_BYTES = 1024 * 1024 - 1024; // the server takes 1 MiB; room for brackets
const MAX_RETRY_AFTER_MS = 60_000;
const FINAL_STATUSES = new Set(['accepted', 'duplicate', 'conflict', 'invalid', 'queued']);

function positiveInteger(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
    if (!Number.isInteger(value) || value < 0 || value > max) {
        throw new RangeError(`${name} must be an integer in 0..${max}, got ${value}`);
    }
    return value;
}

export class UsageClient {
    private readonly eventsUrl: URL;
    private readonly apiKey: string;
    private readonly batchSize: number;
    private readonly maxQueue: number;
    private readonly maxRetries: number;
    private readonly backoffInitialMs: number;
    private readonly backoffMaxMs: number;
    private readonly timeoutMs: number;
    private readonly lingerMs: number;
    private readonly validation: ValidationOptions;
    private readonly agent: http.Agent;

    private readonly queue: Item[] = [];
    private readonly unsettled = new Set<Promise<unknown>>();
    private outstanding = 0; // queued + in flight
    private sending = false;
    private lingerTimer: NodeJS.Timeout | null = null;
    private closed = false;

    constructor(options: UsageClientOptions) {
        const base = new URL(options.baseUrl);
        if (base.protocol !== 'http:' && base.protocol !== 'https:') {
            throw new RangeError(`baseUrl must be http: or https:, got ${options.baseUrl}`);
        }
        const wait = options.wait ?? 'committed';
        if (wait !== 'committed' && wait !== 'acknowledged') {
            throw new RangeError(`wait must be 'committed' or 'acknowledged', got ${String(wait)}`);
        }
        this.eventsUrl = new URL(base.pathname.replace(/\/+$/, '') + '/v1/events', base);
        this.eventsUrl.searchParams.set('wait', wait);
        if (typeof options.apiKey !== 'string' || options.apiKey.length === 0) {
            throw new RangeError('apiKey is required');
        }
        this.apiKey = options.apiKey;
        this.batchSize = positiveInteger('batchSize', options.batchSize ?? 100, 10_000);
        if (this.batchSize === 0) throw new RangeError('batchSize must be at least 1');
        this.maxQueue = positiveInteger('maxQueue', options.maxQueue ?? 10_000);
        this.maxRetries = positiveInteger('maxRetries', options.maxRetries ?? 8, 1000);
        this.backoffInitialMs = positiveInteger('backoffInitialMs', options.backoffInitialMs ?? 50);
        this.backoffMaxMs = positiveInteger('backoffMaxMs', options.backoffMaxMs ?? 2000);
        this.timeoutMs = positiveInteger('timeoutMs', options.timeoutMs ?? 10_000);
        this.lingerMs = positiveInteger('lingerMs', options.lingerMs ?? 5);
        this.validation = { maxEventAgeMs: options.maxEventAgeMs, maxFutureMs: options.maxFutureMs };
        const Agent = base.protocol === 'https:' ? https.Agent : http.Agent;
        this.agent = new Agent({ keepAlive: true, maxSockets: 4 });
    }

    /**
     * Validates the event and queues it. Throws at once (synchronously, before any promise) an
     * InvalidEventError (`.reason`: the ledger's reason code) or a QueueFullError, or a
     * ClosedError after close(). The promise resolves with the ledger's verdict, or rejects
     * with a DeliveryError when the event could not be confirmed.
     */
    record(record: UsageRecord): Promise<Verdict> {
        if (this.closed) throw new ClosedError();
        const item = this.prepare(record);
        if (this.outstanding >= this.maxQueue) throw new QueueFullError(this.maxQueue);
        const promise = this.track(item);
        this.queue.push(item);
        this.schedule();
        return promise;
    }

    /**
     * Sends these events now (in requests of batchSize, beside the background queue) and
     * returns their verdicts in order. Every event is validated before anything is sent: the
     * first invalid one throws InvalidEventError with `.index`. Rejects with the first
     * DeliveryError when some event could not be confirmed.
     */
    async send(records: UsageRecord[]): Promise<Verdict[]> {
        if (this.closed) throw new ClosedError();
        const items = records.map((record, index) => {
            try {
                return this.prepare(record);
            } catch (error) {
                if (error instanceof InvalidEventError) Object.assign(error, { index });
                throw error;
            }
        });
        const promises = items.map((item) => this.track(item));
        for (const batch of this.batches(items)) await this.deliver(batch);
        return Promise.all(promises);
    }

    /** Resolves when every event recorded before this call is answered (or failed). */
    async flush(): Promise<void> {
        const snapshot = [...this.unsettled];
        if (this.lingerTimer !== null) {
            clearTimeout(this.lingerTimer);
            this.lingerTimer = null;
        }
        void this.pump();
        await Promise.allSettled(snapshot);
    }

    /** Stops taking events, sends what is queued, waits for the answers and frees the sockets. */
    async close(): Promise<void> {
        this.closed = true;
        await this.flush();
        this.agent.destroy();
    }

    /** Events recorded and not answered yet (what maxQueue bounds). */
    get pending(): number {
        return this.outstanding;
    }

    private prepare(record: UsageRecord): Item {
        if (typeof record !== 'object' || record === null) {
            throw new InvalidEventError('not_object', 'the event is not an object');
        }
        const timestamp = record.timestamp instanceof Date
            ? formatRfc3339(BigInt(record.timestamp.getTime()) * 1000n)
            : record.timestamp;
        const wire: Record<string, unknown> = {
            idempotency_key: record.idempotencyKey ?? uuidv7(),
            tenant_id: record.tenantId,
            subject: record.subject,
            meter: record.meter,
            quantity: record.quantity,
            timestamp: timestamp ?? formatRfc3339(BigInt(Date.now()) * 1000n),
            properties: record.properties,
        };
        const canonical = checkAndCanonicalize(wire, new Date(), this.validation);
        return {
            canonical,
            key: wire.idempotency_key as string,
            tenant: wire.tenant_id as string,
            attempts: 0,
            resolve: () => undefined,
            reject: () => undefined,
        };
    }

    private track(item: Item): Promise<Verdict> {
        const promise = new Promise<Verdict>((resolve, reject) => {
            item.resolve = resolve;
            item.reject = reject;
        });
        ++this.outstanding;
        const settled = promise.then(() => undefined, () => undefined).finally(() => {
            --this.outstanding;
            this.unsettled.delete(settled);
        });
        this.unsettled.add(settled);
        return promise;
    }

    private schedule(): void {
        if (this.sending) return; // the loop takes what is queued after its current request
        if (this.queue.length >= this.batchSize) {
            if (this.lingerTimer !== null) {
                clearTimeout(this.lingerTimer);
                this.lingerTimer = null;
            }
            void this.pump();
        } else if (this.lingerTimer === null) {
            this.lingerTimer = setTimeout(() => {
                this.lingerTimer = null;
                void this.pump();
            }, this.lingerMs);
        }
    }

    private async pump(): Promise<void> {
        if (this.sending) return;
        this.sending = true;
        try {
            while (this.queue.length > 0) {
                const [batch] = this.batches(this.queue.slice(0, this.batchSize));
                this.queue.splice(0, batch.length);
                await this.deliver(batch);
            }
        } finally {
            this.sending = false;
        }
    }

    /** Splits items into batches of at most batchSize events and MAX_BODY_BYTES of JSON. */
    private batches(items: Item[]): Item[][] {
        const out: Item[][] = [];
        let current: Item[] = [];
        let bytes = 0;
        for (const item of items) {
            const size = Buffer.byteLength(item.canonical, 'utf8') + 1;
            if (current.length > 0 && (current.length >= this.batchSize || bytes + size > MAX_BODY_BYTES)) {
                out.push(current);
                current = [];
                bytes = 0;
            }
            current.push(item);
            bytes += size;
        }
        if (current.length > 0) out.push(current);
        return out;
    }

    /** Sends one batch until every event in it has a verdict or failed; never throws. */
    private async deliver(batch: Item[]): Promise<void> {
        let pending = batch;
        for (let retry = 0; ; ++retry) {
            for (const item of pending) ++item.attempts;
            const outcome = await this.post('[' + pending.map((item) => item.canonical).join(',') + ']');
            const { retry: again, cause, retryAfterMs } = this.settle(pending, outcome);
            pending = again;
            if (pending.length === 0) return;
            if (retry >= this.maxRetries) {
                for (const item of pending) {
                    item.reject(new DeliveryError(
                        `not confirmed after ${item.attempts} attempts: ${cause}`, item.key, item.tenant,
                        item.attempts, true, outcome.kind === 'answer' ? outcome.status : undefined,
                        outcome.kind === 'answer' ? outcome.body : undefined));
                }
                return;
            }
            await new Promise((resolve) => setTimeout(resolve, this.backoffMs(retry, retryAfterMs)));
        }
    }

    /** Exponential backoff with jitter: a random delay in [d/2, d], d = initial * 2^retry ≤ max. */
    private backoffMs(retry: number, retryAfterMs: number): number {
        const ceiling = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(retry, 30));
        const jittered = Math.floor(ceiling / 2) + randomInt(Math.floor(ceiling / 2) + 1);
        return Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
    }

    /** Resolves or rejects what the answer settles; returns the items to send again. */
    private settle(items: Item[], outcome: HttpOutcome): { retry: Item[]; cause: string; retryAfterMs: number } {
        if (outcome.kind === 'error') {
            return { retry: items, cause: outcome.error.message, retryAfterMs: 0 };
        }
        const { status, body } = outcome;
        let parsed: unknown = null;
        try {
            parsed = JSON.parse(body);
        } catch {
            parsed = null;
        }
        const events = typeof parsed === 'object' && parsed !== null &&
            Array.isArray((parsed as { events?: unknown }).events)
            ? (parsed as { events: Array<Record<string, unknown>> }).events
            : null;
        const cause = `HTTP ${status}: ${body.slice(0, 200)}`;
        const answersEvents = events !== null && (status === 200 || status === 202 || status === 400 ||
            status === 503 || status === 504);
        if (answersEvents) {
            const byIndex = new Map<number, Record<string, unknown>>();
            for (const event of events) {
                if (typeof event?.index === 'number') byIndex.set(event.index, event);
            }
            const retry: Item[] = [];
            items.forEach((item, index) => {
                const answer = byIndex.get(index);
                const verdict = answer?.status;
                if (typeof verdict !== 'string' || !FINAL_STATUSES.has(verdict)) {
                    retry.push(item); // pending (no verdict in time), failed (Kafka), or missing
                    return;
                }
                item.resolve({
                    status: verdict as VerdictStatus,
                    idempotencyKey: item.key,
                    tenantId: item.tenant,
                    attempts: item.attempts,
                    ...(typeof answer?.error === 'string' ? { error: answer.error } : {}),
                    ...(typeof answer?.ledger_partition === 'number' ? { ledgerPartition: answer.ledger_partition } : {}),
                    ...(typeof answer?.ledger_sequence === 'number' ? { ledgerSequence: answer.ledger_sequence } : {}),
                });
            });
            return { retry, cause, retryAfterMs: outcome.retryAfterMs };
        }
        if (status === 429 || status >= 500) {
            return { retry: items, cause, retryAfterMs: outcome.retryAfterMs };
        }
        for (const item of items) {
            item.reject(new DeliveryError(`refused: ${cause}`, item.key, item.tenant, item.attempts, false, status, body));
        }
        return { retry: [], cause, retryAfterMs: 0 };
    }

    private post(body: string): Promise<HttpOutcome> {
        return new Promise((resolve) => {
            let done = false;
            const finish = (outcome: HttpOutcome): void => {
                if (done) return;
                done = true;
                clearTimeout(deadline);
                resolve(outcome);
            };
            const transport = this.eventsUrl.protocol === 'https:' ? https : http;
            const request = transport.request(this.eventsUrl, {
                method: 'POST',
                agent: this.agent,
                headers: {
                    'Content-Type': 'application/json',
                    'Content-Length': Buffer.byteLength(body, 'utf8'),
                    Authorization: `Bearer ${this.apiKey}`,
                    Accept: 'application/json',
                },
            }, (response) => {
                const chunks: Buffer[] = [];
                response.on('data', (chunk: Buffer) => chunks.push(chunk));
                response.on('error', (error) => finish({ kind: 'error', error }));
                response.on('close', () => {
                    if (!response.complete) {
                        finish({ kind: 'error', error: new Error('the connection closed before the whole answer came') });
                    }
                });
                response.on('end', () => {
                    const retryAfter = Number(response.headers['retry-after']);
                    finish({
                        kind: 'answer',
                        status: response.statusCode ?? 0,
                        body: Buffer.concat(chunks).toString('utf8'),
                        retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0,
                    });
                });
            });
            const deadline = setTimeout(() => {
                request.destroy(new Error(`no answer within ${this.timeoutMs} ms`));
            }, this.timeoutMs);
            request.on('error', (error) => finish({ kind: 'error', error }));
            request.end(body);
        });
    }
}
