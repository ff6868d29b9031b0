// RFC 3339 timestamps as bigint microseconds since the Unix epoch (UTC): years up to 9999 do
// not fit a JS number's exact range in microseconds. Same rules as the C++ `parse_rfc3339`
// (schemas/time.cpp).

export type TimeResult = { ok: true; micros: bigint } | { ok: false; error: string };

const MICROS_PER_SECOND = 1_000_000n;
const FIRST_MICROS = -62167219200n * MICROS_PER_SECOND; // 0000-01-01T00:00:00Z
const LAST_MICROS = 253402300799n * MICROS_PER_SECOND + 999999n; // 9999-12-31T23:59:59.999999Z

function readDigits(text: string, position: number, count: number): number | null {
    if (position + count > text.length) return null;
    let value = 0;
    for (let index = position; index < position + count; ++index) {
        const code = text.charCodeAt(index);
        if (code < 48 || code > 57) return null;
        value = value * 10 + (code - 48);
    }
    return value;
}

function isLeapYear(year: number): boolean {
    return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
    const days = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    return days[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
function daysFromCivil(year: number, month: number, day: number): number {
    const y = month <= 2 ? year - 1 : year;
    const era = Math.floor(y / 400);
    const yearOfEra = y - era * 400;
    const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
    const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) +
        dayOfYear;
    return era * 146097 + dayOfEra - 719468;
}

/** Strict RFC 3339: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; fraction digits past 6 truncated. */
export function parseRfc3339(text: string): TimeResult {
    const fail = (why: string): TimeResult => ({ ok: false, error: `timestamp "${text.slice(0, 64)}": ${why}` });
    const year = readDigits(text, 0, 4);
    const month = readDigits(text, 5, 2);
    const day = readDigits(text, 8, 2);
    const hour = readDigits(text, 11, 2);
    const minute = readDigits(text, 14, 2);
    const second = readDigits(text, 17, 2);
    if (year === null || text.length < 19 || text[4] !== '-' || month === null ||
        text[7] !== '-' || day === null || (text[10] !== 'T' && text[10] !== 't') ||
        hour === null || text[13] !== ':' || minute === null || text[16] !== ':' ||
        second === null) {
        return fail('not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac]Z or ±HH:MM)');
    }
    if (year < 1) return fail('year 0000 is out of range');
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
        return fail('no such date');
    }
    if (hour > 23) return fail('hour out of range (00-23)');
    if (minute > 59) return fail('minute out of range (00-59)');
    if (second > 59) return fail('second out of range (00-59; leap seconds are not accepted)');
    let position = 19;
    let fractionMicros = 0;
    if (text[position] === '.') {
        ++position;
        const start = position;
        while (position < text.length && text[position] >= '0' && text[position] <= '9') {
            if (position - start < 6) fractionMicros = fractionMicros * 10 + (text.charCodeAt(position) - 48);
            ++position;
        }
        if (position === start) return fail('empty fraction of a second');
        for (let digits = position - start; digits < 6; ++digits) fractionMicros *= 10;
    }
    if (position >= text.length) return fail('missing time zone (Z or ±HH:MM)');
    let offsetSeconds = 0;
    const zone = text[position];
    if (zone === 'Z' || zone === 'z') {
        ++position;
    } else if (zone === '+' || zone === '-') {
        const offsetHours = readDigits(text, position + 1, 2);
        const offsetMinutes = readDigits(text, position + 4, 2);
        if (offsetHours === null || position + 3 >= text.length || text[position + 3] !== ':' ||
            offsetMinutes === null) {
            return fail('bad time zone offset (±HH:MM)');
        }
        if (offsetHours > 23 || offsetMinutes > 59) return fail('time zone offset out of range');
        offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (zone === '-' ? -1 : 1);
        position += 6;
    } else {
        return fail('bad time zone (Z or ±HH:MM)');
    }
    if (position !== text.length) return fail('trailing characters');
    const seconds = BigInt(daysFromCivil(year, month, day)) * 86400n +
        BigInt(hour * 3600 + minute * 60 + second - offsetSeconds);
    return { ok: true, micros: seconds * MICROS_PER_SECOND + BigInt(fractionMicros) };
}

function pad(value: number | bigint, width: number): string {
    return value.toString().padStart(width, '0');
}

/**
 * UTC `YYYY-MM-DDTHH:MM:SSZ`, or `.ffffffZ` (six digits) when the microseconds are not zero.
 * Times outside years 0000-9999 are written as the nearest one inside (as the C++ side does).
 */
export function formatRfc3339(micros: bigint): string {
    if (micros < FIRST_MICROS) micros = FIRST_MICROS;
    if (micros > LAST_MICROS) micros = LAST_MICROS;
    let seconds = micros / MICROS_PER_SECOND;
    let fraction = micros % MICROS_PER_SECOND;
    if (fraction < 0n) {
        fraction += MICROS_PER_SECOND;
        seconds -= 1n;
    }
    let days = seconds / 86400n;
    let secondOfDay = seconds % 86400n;
    if (secondOfDay < 0n) {
        secondOfDay += 86400n;
        days -= 1n;
    }
    // civil_from_days (Howard Hinnant)
    const z = Number(days) + 719468;
    const era = Math.floor(z / 146097);
    const dayOfEra = z - era * 146097;
    const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) +
        Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
    const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
    const mp = Math.floor((5 * dayOfYear + 2) / 153);
    const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
    const s = Number(secondOfDay);
    const text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(Math.floor(s / 3600), 2)}:` +
        `${pad(Math.floor((s % 3600) / 60), 2)}:${pad(s % 60, 2)}`;
    return fraction === 0n ? text + 'Z' : `${text}.${pad(fraction, 6)}Z`;
}

/** Now, in microseconds since the epoch (millisecond precision: the JS clock). */
export function dateToMicros(date: Date): bigint {
    return BigInt(date.getTime()) * 1000n;
}
