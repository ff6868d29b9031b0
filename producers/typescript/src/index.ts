export { UsageClient, QueueFullError, ClosedError, DeliveryError } from './client';
export type { UsageClientOptions, UsageRecord, Verdict, VerdictStatus } from './client';
export { validate, canonicalEvent, InvalidEventError, JsonNumber, MAX_EVENT_BYTES } from './event';
export type { Reason, WireEvent, PropertyValue, ValidationOptions } from './event';
export { payloadHash, xxh3Hex128 } from './hash';
export { uuidv7, UuidV7Generator, formatUuidV7 } from './uuid';
export { parseQuantity, formatMicros } from './decimal';
export { parseRfc3339, formatRfc3339 } from './time';
