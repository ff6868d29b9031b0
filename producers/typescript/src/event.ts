// Validation and the canonical form of one usage event, in the wire format (snake_case fields,
// as in schemas/usage_event.schema.json and schemas/test-vectors/events.json). Same rules, same
// order and same reason codes as the C++ `EventValidator` (schemas/README.md); pure: the clock
// is a parameter.

import { decimalErrorText, formatMicros, parseQuantity } from './decimal';
import { dateToMicros, formatRfc3339, parseRfc3339 } from './time';

/** The reason codes an SDK can produce (schemas/README.md, "Validation: the order of the rules"). */
export type Reason =
    | 'too_large'
    | 'not_object'
    | 'unknown_field'
    | 'missing_field'
    | 'bad_key'
    | 'bad_tenant'
    | 'bad_subject'
    | 'bad_meter'
    | 'bad_quantity'
    | 'bad_timestamp'
    | 'bad_properties';

/**
 * A JSON number kept as the exact token it was written as (`"1.50"`, `"1e400"`), for numbers a
 * JS number cannot hold exactly. Accepted as a quantity and as a property value.
 */
export class JsonNumber {
    constructor(readonly token: string) {}
    toJSON(): never {
        throw new TypeError('JsonNumber is written by canonicalEvent, not JSON.stringify');
    }
}

export type PropertyValue = string | number | bigint | boolean | JsonNumber;

/** An event in the wire format. Quantities are decimal strings (or integers; never floats). */
export interface WireEvent {
    idempotency_key: string;
    tenant_id: string;
    subject?: string | null;
    meter: string;
    quantity: string | bigint | number | JsonNumber;
    timestamp: string;
    properties?: Record<string, PropertyValue> | null;
}

export class InvalidEventError extends Error {
    constructor(readonly reason: Reason, readonly detail: string) {
        super(`${reason}: ${detail}`);
        this.name = 'InvalidEventError';
    }
}

export interface ValidationOptions {
    /** Oldest accepted timestamp, before now (default 35 days, the server's default). */
    maxEventAgeMs?: number;
    /** Latest accepted timestamp, after now (default 5 minutes). */
    maxFutureMs?: number;
}

export const MAX_EVENT_BYTES = 16384;
const MAX_KEY_BYTES = 128;
const MAX_TENANT_BYTES = 64;
const MAX_SUBJECT_BYTES = 128;
const MAX_METER_BYTES = 64;
const MAX_PROPERTIES = 16;
const MAX_PROPERTY_KEY_BYTES = 64;
const MAX_PROPERTIES_BYTES = 4096;
const DEFAULT_MAX_EVENT_AGE_MS = 35 * 24 * 3600 * 1000;
const DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000;

const FIELDS = ['idempotency_key', 'tenant_id', 'subject', 'meter', 'quantity', 'timestamp', 'properties'];
const REQUIRED = ['idempotency_key', 'tenant_id', 'meter', 'quantity', 'timestamp'];
const TENANT = /^[A-Za-z0-9._:-]+$/;
const METER = /^[a-z0-9_.-]+$/;
const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
// No C0 controls, DEL, C1 controls (U+0080–U+009F).
const NOT_PRINTABLE = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** An event that passed every rule: the parts its canonical form is written from. */
interface CheckedEvent {
    key: string;
    tenant: string;
    subject: string | null;
    meter: string;
    quantityMicros: bigint;
    timestampMicros: bigint;
    properties: Array<[string, string]>; // key, canonical JSON value text; sorted
}

function utf8Bytes(text: string): number {
    return Buffer.byteLength(text, 'utf8');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value) &&
        !(value instanceof JsonNumber);
}

function quoted(text: string): string {
    return JSON.stringify(text.length > 64 ? text.slice(0, 64) + '…' : text);
}

/** A JSON string as the canonical form writes it (RFC 8259; only `"`, `\` and C0 escaped). */
function jsonString(text: string): string {
    // JSON.stringify escapes exactly these, with lowercase \u00xx, once lone surrogates are
    // excluded (validation refuses them).
    return JSON.stringify(text);
}

/** The canonical text of a number property: its canonical decimal when exact, else the token. */
function canonicalNumberToken(token: string): string {
    const negative = token.startsWith('-');
    const parsed = parseQuantity(negative ? token.slice(1) : token);
    if (!parsed.ok) return token;
    return (negative && parsed.micros !== 0n ? '-' : '') + formatMicros(parsed.micros);
}

/** The JSON number token of a property value, or null when it is not a JSON number. */
function numberToken(value: unknown): string | null {
    if (value instanceof JsonNumber) return JSON_NUMBER.test(value.token) ? value.token : null;
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : null;
    return null;
}

/** The compact JSON text of a value as this SDK would send it, for the size rules. */
function jsonText(value: unknown): string {
    if (value instanceof JsonNumber) return value.token;
    if (typeof value === 'bigint') return value.toString();
    if (Array.isArray(value)) return '[' + value.map((item) => jsonText(item ?? null)).join(',') + ']';
    if (isPlainObject(value)) {
        const parts: string[] = [];
        for (const [key, item] of Object.entries(value)) {
            if (item === undefined) continue;
            parts.push(JSON.stringify(key) + ':' + jsonText(item));
        }
        return '{' + parts.join(',') + '}';
    }
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
}

function compareUtf8(left: string, right: string): number {
    return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}

type Checked = { ok: true; event: CheckedEvent } | { ok: false; error: InvalidEventError };

function fail(reason: Reason, detail: string): Checked {
    return { ok: false, error: new InvalidEventError(reason, detail) };
}

function present(object: Record<string, unknown>, field: string): boolean {
    return Object.prototype.hasOwnProperty.call(object, field) && object[field] !== undefined;
}

function checkEvent(input: unknown, nowMicros: bigint | null, options: ValidationOptions): Checked {
    const size = utf8Bytes(jsonText(input));
    if (size > MAX_EVENT_BYTES) {
        return fail('too_large', `message is ${size} bytes (at most ${MAX_EVENT_BYTES})`);
    }
    if (!isPlainObject(input)) return fail('not_object', 'the message is not a JSON object');
    const event = input;
    for (const field of Object.keys(event)) {
        if (event[field] !== undefined && !FIELDS.includes(field)) {
            return fail('unknown_field', `unknown field ${quoted(field)}`);
        }
    }
    for (const field of REQUIRED) {
        if (!present(event, field)) return fail('missing_field', `missing required field "${field}"`);
    }

    const key = event.idempotency_key;
    if (typeof key !== 'string') return fail('bad_key', 'idempotency_key must be a string');
    const keyBytes = utf8Bytes(key);
    if (keyBytes === 0 || keyBytes > MAX_KEY_BYTES || NOT_PRINTABLE.test(key) || LONE_SURROGATE.test(key)) {
        return fail('bad_key', `idempotency_key must be 1-128 bytes of printable UTF-8 (got ${keyBytes} bytes)`);
    }

    const tenant = event.tenant_id;
    if (typeof tenant !== 'string' || tenant.length > MAX_TENANT_BYTES || !TENANT.test(tenant)) {
        return fail('bad_tenant', 'tenant_id must be 1-64 characters of [A-Za-z0-9._:-], got ' +
            (typeof tenant === 'string' ? quoted(tenant) : 'a non-string'));
    }

    let subject: string | null = null;
    if (present(event, 'subject') && event.subject !== null) {
        const value = event.subject;
        if (typeof value !== 'string' || utf8Bytes(value) > MAX_SUBJECT_BYTES ||
            NOT_PRINTABLE.test(value) || LONE_SURROGATE.test(value)) {
            return fail('bad_subject', 'subject must be a string of at most 128 bytes of printable UTF-8');
        }
        subject = value;
    }

    const meter = event.meter;
    if (typeof meter !== 'string' || meter.length > MAX_METER_BYTES || !METER.test(meter)) {
        return fail('bad_meter', 'meter must be 1-64 characters of [a-z0-9_.-], got ' +
            (typeof meter === 'string' ? quoted(meter) : 'a non-string'));
    }

    const quantity = event.quantity;
    let quantityText: string;
    if (typeof quantity === 'string') {
        quantityText = quantity;
    } else if (quantity instanceof JsonNumber) {
        if (!JSON_NUMBER.test(quantity.token)) {
            return fail('bad_quantity', `quantity ${quoted(quantity.token)} is not a JSON number`);
        }
        quantityText = quantity.token;
    } else if (typeof quantity === 'bigint') {
        quantityText = quantity.toString();
    } else if (typeof quantity === 'number') {
        if (!Number.isInteger(quantity)) {
            return fail('bad_quantity', `quantity ${quantity} is not an integer: pass a decimal string ("1.5") so it stays exact`);
        }
        quantityText = Object.is(quantity, -0) ? '-0' : BigInt(quantity).toString();
    } else {
        return fail('bad_quantity', 'quantity must be a JSON number or a decimal string');
    }
    const parsedQuantity = parseQuantity(quantityText);
    if (!parsedQuantity.ok) {
        return fail('bad_quantity', `quantity ${quoted(quantityText)}: ${decimalErrorText(parsedQuantity.error)}` +
            ' (a decimal >= 0 and <= 10^12, at most 6 fraction digits)');
    }

    const timestamp = event.timestamp;
    if (typeof timestamp !== 'string') return fail('bad_timestamp', 'timestamp must be an RFC 3339 string');
    const parsedTime = parseRfc3339(timestamp);
    if (!parsedTime.ok) return fail('bad_timestamp', parsedTime.error);
    if (nowMicros !== null) {
        const maxFutureUs = BigInt(options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS) * 1000n;
        const maxAgeUs = BigInt(options.maxEventAgeMs ?? DEFAULT_MAX_EVENT_AGE_MS) * 1000n;
        if (parsedTime.micros > nowMicros + maxFutureUs) {
            return fail('bad_timestamp', `timestamp ${quoted(timestamp)} is more than ${maxFutureUs / 1000n} ms in the future`);
        }
        if (parsedTime.micros < nowMicros - maxAgeUs) {
            return fail('bad_timestamp', `timestamp ${quoted(timestamp)} is older than the late-arrival limit of ${maxAgeUs / 1000n} ms`);
        }
    }

    const properties: Array<[string, string]> = [];
    if (present(event, 'properties') && event.properties !== null) {
        const object = event.properties;
        if (!isPlainObject(object)) return fail('bad_properties', 'properties must be a flat JSON object');
        const entries = Object.entries(object).filter(([, value]) => value !== undefined);
        if (entries.length > MAX_PROPERTIES) {
            return fail('bad_properties', `properties has ${entries.length} keys (at most ${MAX_PROPERTIES})`);
        }
        for (const [name, value] of entries) {
            const allowed = typeof value === 'string' ? !LONE_SURROGATE.test(value)
                : typeof value === 'boolean' || numberToken(value) !== null;
            if (!allowed) {
                return fail('bad_properties', `property ${quoted(name)} must be a string, number or boolean`);
            }
        }
        for (const [name] of entries) {
            const bytes = utf8Bytes(name);
            if (bytes === 0 || bytes > MAX_PROPERTY_KEY_BYTES || NOT_PRINTABLE.test(name) || LONE_SURROGATE.test(name)) {
                return fail('bad_properties', `property key ${quoted(name)} must be 1-64 bytes of printable UTF-8`);
            }
        }
        const propertiesBytes = utf8Bytes(jsonText(object));
        if (propertiesBytes > MAX_PROPERTIES_BYTES) {
            return fail('bad_properties', `properties is ${propertiesBytes} bytes of JSON (at most ${MAX_PROPERTIES_BYTES})`);
        }
        for (const [name, value] of entries) {
            let text: string;
            if (typeof value === 'string') text = jsonString(value);
            else if (typeof value === 'boolean') text = value ? 'true' : 'false';
            else text = canonicalNumberToken(numberToken(value) as string);
            properties.push([name, text]);
        }
        properties.sort((left, right) => compareUtf8(left[0], right[0]));
    }

    return {
        ok: true,
        event: {
            key,
            tenant,
            subject,
            meter,
            quantityMicros: parsedQuantity.micros,
            timestampMicros: parsedTime.micros,
            properties,
        },
    };
}

function writeCanonical(event: CheckedEvent): string {
    let out = `{"idempotency_key":${jsonString(event.key)},"tenant_id":${jsonString(event.tenant)}`;
    if (event.subject !== null) out += `,"subject":${jsonString(event.subject)}`;
    out += `,"meter":${jsonString(event.meter)},"quantity":"${formatMicros(event.quantityMicros)}"` +
        `,"timestamp":"${formatRfc3339(event.timestampMicros)}"`;
    if (event.properties.length > 0) {
        out += ',"properties":{' +
            event.properties.map(([name, value]) => jsonString(name) + ':' + value).join(',') + '}';
    }
    return out + '}';
}

/**
 * Checks one event (any value: a parsed JSON message) against every rule an SDK can break, in
 * the ledger's order, with `now` for the time window (default: the current time). Returns null
 * when it is valid, else the InvalidEventError (its `.reason` is the C++ reason code).
 */
export function validate(event: unknown, now: Date = new Date(), options: ValidationOptions = {}): InvalidEventError | null {
    const checked = checkEvent(event, dateToMicros(now), options);
    return checked.ok ? null : checked.error;
}

/**
 * The canonical event JSON (schemas/README.md, "Canonical encodings"): what the ledger stores
 * and hashes. Throws InvalidEventError when the event breaks a rule (the time window is not
 * checked here: the canonical form does not depend on the clock).
 */
export function canonicalEvent(event: unknown): string {
    const checked = checkEvent(event, null, {});
    if (!checked.ok) throw checked.error;
    return writeCanonical(checked.event);
}

/** Validates (with the time window) and writes the canonical form in one pass. */
export function checkAndCanonicalize(event: unknown, now: Date, options: ValidationOptions): string {
    const checked = checkEvent(event, dateToMicros(now), options);
    if (!checked.ok) throw checked.error;
    return writeCanonical(checked.event);
}
