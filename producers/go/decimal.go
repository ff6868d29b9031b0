package usageledger

import (
	"math/big"
	"strconv"
)

// Quantities are int64 micro-units (10^-6), never floating point. At most 10^12 units.
const (
	fractionDigits    = 6
	maxQuantityMicros = int64(1_000_000_000_000_000_000) // 10^12 units = 10^18 micros
	exponentClamp     = 1_000_000
	maxMicroDigits    = 39 // a micro amount of more digits is out of range for every limit
)

// decimalError says why a text is not a quantity (the C++ DecimalError names).
type decimalError string

const (
	decimalOK               decimalError = ""
	decimalEmpty            decimalError = "empty"
	decimalSyntax           decimalError = "not a decimal number"
	decimalNegative         decimalError = "negative"
	decimalTooManyFractions decimalError = "more than 6 fraction digits"
	decimalOutOfRange       decimalError = "out of range"
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseQuantity reads a quantity exactly (schemas/README.md "Quantity details"): the JSON
// number grammar without a sign, also inside strings; exponents are applied in integer
// arithmetic whatever the number of digits; fraction digits are judged before the range.
func parseQuantity(text string) (int64, decimalError) {
	if text == "" {
		return 0, decimalEmpty
	}
	if text[0] == '-' {
		return 0, decimalNegative
	}
	position := 0
	skipDigits := func() string {
		start := position
		for position < len(text) && isDigit(text[position]) {
			position++
		}
		return text[start:position]
	}
	integer := skipDigits()
	if integer == "" || (len(integer) > 1 && integer[0] == '0') {
		return 0, decimalSyntax
	}
	fraction := ""
	if position < len(text) && text[position] == '.' {
		position++
		fraction = skipDigits()
		if fraction == "" {
			return 0, decimalSyntax
		}
	}
	exponent := int64(0)
	if position < len(text) && (text[position] == 'e' || text[position] == 'E') {
		position++
		negative := false
		if position < len(text) && (text[position] == '+' || text[position] == '-') {
			negative = text[position] == '-'
			position++
		}
		digits := skipDigits()
		if digits == "" {
			return 0, decimalSyntax
		}
		for i := 0; i < len(digits); i++ {
			exponent = exponent*10 + int64(digits[i]-'0')
			if exponent > exponentClamp {
				exponent = exponentClamp
			}
		}
		if negative {
			exponent = -exponent
		}
	}
	if position != len(text) {
		return 0, decimalSyntax
	}
	digits := integer + fraction
	first := 0
	for first < len(digits) && digits[first] == '0' {
		first++
	}
	if first == len(digits) {
		return 0, decimalOK
	}
	end := len(digits)
	for digits[end-1] == '0' {
		end--
	}
	significant := int64(end - first)
	microExponent := exponent - int64(len(fraction)) + int64(len(digits)-end) + fractionDigits
	if microExponent < 0 {
		return 0, decimalTooManyFractions
	}
	if significant+microExponent > maxMicroDigits {
		return 0, decimalOutOfRange
	}
	micros, ok := new(big.Int).SetString(digits[first:end], 10)
	if !ok {
		return 0, decimalSyntax
	}
	micros.Mul(micros, new(big.Int).Exp(big.NewInt(10), big.NewInt(microExponent), nil))
	if micros.Cmp(big.NewInt(maxQuantityMicros)) > 0 {
		return 0, decimalOutOfRange
	}
	return micros.Int64(), decimalOK
}

// formatMicros writes the canonical decimal of a micro amount: no exponent, no leading zeros,
// no trailing fraction zeros, no point when the fraction is zero ("1500", "0.25", "-25").
func formatMicros(micros int64) string {
	negative := micros < 0
	magnitude := new(big.Int).SetInt64(micros)
	magnitude.Abs(magnitude)
	digits := magnitude.String()
	for len(digits) <= fractionDigits {
		digits = "0" + digits
	}
	integer := digits[:len(digits)-fractionDigits]
	fraction := digits[len(digits)-fractionDigits:]
	for fraction != "" && fraction[len(fraction)-1] == '0' {
		fraction = fraction[:len(fraction)-1]
	}
	out := integer
	if fraction != "" {
		out += "." + fraction
	}
	if negative {
		out = "-" + out
	}
	return out
}

// FormatQuantity returns the canonical decimal string of a quantity given as text ("1.5e3" →
// "1500"), or an *InvalidEventError with reason bad_quantity.
func FormatQuantity(text string) (string, error) {
	micros, problem := parseQuantity(text)
	if problem != decimalOK {
		return "", &InvalidEventError{Reason: ReasonBadQuantity,
			Detail: "quantity " + quoted(text) + ": " + string(problem) +
				" (a decimal >= 0 and <= 10^12, at most 6 fraction digits)"}
	}
	return formatMicros(micros), nil
}

// QuantityFromMicros is the canonical decimal string of an amount of micro-units (10^-6).
func QuantityFromMicros(micros int64) string { return formatMicros(micros) }

// QuantityFromInt is the canonical decimal string of a whole number of units.
func QuantityFromInt(units int64) string { return strconv.FormatInt(units, 10) }
