// Exact decimals in micro-units (10^-6), as bigint: never a JS float. The grammar and the
// errors are those of the C++ `Decimal::parse_quantity` (schemas/decimal.cpp).

export const MICROS_PER_UNIT = 1_000_000n;
/** The largest quantity: 10^12 units = 10^18 micro-units. */
export const MAX_QUANTITY_MICROS = 10n ** 18n;

const FRACTION_DIGITS = 6;
const EXPONENT_CLAMP = 1_000_000;
const MAX_MICRO_DIGITS = 39; // 2^127 < 10^39: more digits are out of range for every limit

export type DecimalError =
    | 'empty'
    | 'syntax'
    | 'negative'
    | 'too_many_fraction_digits'
    | 'out_of_range';

export type DecimalResult = { ok: true; micros: bigint } | { ok: false; error: DecimalError };

const DIGITS = /^[0-9]*/;

/**
 * Reads "digits[.digits][(e|E)[+|-]digits]" (RFC 8259 number grammar without the sign: no
 * leading zeros) into micro-units exactly. Fraction digits are judged before the range.
 */
export function parseQuantity(text: string): DecimalResult {
    if (text.length === 0) return { ok: false, error: 'empty' };
    if (text[0] === '-') return { ok: false, error: 'negative' };
    let position = 0;
    const takeDigits = (): string => {
        const match = DIGITS.exec(text.slice(position)) as RegExpExecArray;
        position += match[0].length;
        return match[0];
    };
    const integer = takeDigits();
    if (integer.length === 0) return { ok: false, error: 'syntax' };
    if (integer.length > 1 && integer[0] === '0') return { ok: false, error: 'syntax' };
    let fraction = '';
    if (text[position] === '.') {
        ++position;
        fraction = takeDigits();
        if (fraction.length === 0) return { ok: false, error: 'syntax' };
    }
    let exponent = 0;
    if (text[position] === 'e' || text[position] === 'E') {
        ++position;
        let negative = false;
        if (text[position] === '+' || text[position] === '-') {
            negative = text[position] === '-';
            ++position;
        }
        const exponentDigits = takeDigits();
        if (exponentDigits.length === 0) return { ok: false, error: 'syntax' };
        for (const c of exponentDigits) {
            exponent = Math.min(exponent * 10 + (c.charCodeAt(0) - 48), EXPONENT_CLAMP);
        }
        if (negative) exponent = -exponent;
    }
    if (position !== text.length) return { ok: false, error: 'syntax' };

    const all = integer + fraction;
    let first = 0;
    while (first < all.length && all[first] === '0') ++first;
    if (first === all.length) return { ok: true, micros: 0n };
    let end = all.length;
    while (all[end - 1] === '0') --end;
    const significant = end - first;
    const microExponent = exponent - fraction.length + (all.length - end) + FRACTION_DIGITS;
    if (microExponent < 0) return { ok: false, error: 'too_many_fraction_digits' };
    if (significant + microExponent > MAX_MICRO_DIGITS) return { ok: false, error: 'out_of_range' };
    const micros = BigInt(all.slice(first, end)) * 10n ** BigInt(microExponent);
    if (micros > MAX_QUANTITY_MICROS) return { ok: false, error: 'out_of_range' };
    return { ok: true, micros };
}

export function decimalErrorText(error: DecimalError): string {
    switch (error) {
        case 'empty':
            return 'empty';
        case 'syntax':
            return 'not a decimal number';
        case 'negative':
            return 'negative';
        case 'too_many_fraction_digits':
            return 'more than 6 fraction digits';
        case 'out_of_range':
            return 'out of range';
    }
}

/** The canonical decimal: no exponent, no leading zeros, no trailing fraction zeros. */
export function formatMicros(micros: bigint): string {
    const negative = micros < 0n;
    const magnitude = negative ? -micros : micros;
    const integer = magnitude / MICROS_PER_UNIT;
    const fraction = (magnitude % MICROS_PER_UNIT).toString().padStart(FRACTION_DIGITS, '0');
    const trimmed = fraction.replace(/0+$/, '');
    return (negative ? '-' : '') + integer.toString() + (trimmed.length > 0 ? '.' + trimmed : '');
}
