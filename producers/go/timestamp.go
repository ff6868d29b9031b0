package usageledger

import (
	"strconv"
	"time"
)

const microsPerSecond = int64(1_000_000)

func readDigits(text string, position, count int) (int, bool) {
	if position+count > len(text) {
		return 0, false
	}
	value := 0
	for i := position; i < position+count; i++ {
		if !isDigit(text[i]) {
			return 0, false
		}
		value = value*10 + int(text[i]-'0')
	}
	return value, true
}

// parseRFC3339 reads strict RFC 3339 (schemas/README.md "Timestamp details") into microseconds
// since the Unix epoch, UTC; fraction digits past the sixth are truncated. On failure it
// returns the reason in words.
func parseRFC3339(text string) (int64, string) {
	fail := func(why string) (int64, string) {
		return 0, "timestamp \"" + utf8Prefix(text, 64) + "\": " + why
	}
	year, okYear := readDigits(text, 0, 4)
	if !okYear || len(text) < 19 || text[4] != '-' || text[7] != '-' ||
		(text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':' {
		return fail("not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac]Z or ±HH:MM)")
	}
	month, okMonth := readDigits(text, 5, 2)
	day, okDay := readDigits(text, 8, 2)
	hour, okHour := readDigits(text, 11, 2)
	minute, okMinute := readDigits(text, 14, 2)
	second, okSecond := readDigits(text, 17, 2)
	if !okMonth || !okDay || !okHour || !okMinute || !okSecond {
		return fail("not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac]Z or ±HH:MM)")
	}
	if year < 1 {
		return fail("year 0000 is out of range")
	}
	date := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if month < 1 || month > 12 || day < 1 || date.Day() != day || int(date.Month()) != month {
		return fail("no such date")
	}
	if hour > 23 {
		return fail("hour out of range (00-23)")
	}
	if minute > 59 {
		return fail("minute out of range (00-59)")
	}
	if second > 59 {
		return fail("second out of range (00-59; leap seconds are not accepted)")
	}
	position := 19
	fractionMicros := int64(0)
	if position < len(text) && text[position] == '.' {
		position++
		start := position
		for position < len(text) && isDigit(text[position]) {
			if position-start < 6 {
				fractionMicros = fractionMicros*10 + int64(text[position]-'0')
			}
			position++
		}
		if position == start {
			return fail("empty fraction of a second")
		}
		for digits := position - start; digits < 6; digits++ {
			fractionMicros *= 10
		}
	}
	if position >= len(text) {
		return fail("missing time zone (Z or ±HH:MM)")
	}
	offsetSeconds := int64(0)
	switch zone := text[position]; zone {
	case 'Z', 'z':
		position++
	case '+', '-':
		offsetHours, okH := readDigits(text, position+1, 2)
		offsetMinutes, okM := readDigits(text, position+4, 2)
		if !okH || position+3 >= len(text) || text[position+3] != ':' || !okM {
			return fail("bad time zone offset (±HH:MM)")
		}
		if offsetHours > 23 || offsetMinutes > 59 {
			return fail("time zone offset out of range")
		}
		offsetSeconds = int64(offsetHours*3600 + offsetMinutes*60)
		if zone == '-' {
			offsetSeconds = -offsetSeconds
		}
		position += 6
	default:
		return fail("bad time zone (Z or ±HH:MM)")
	}
	if position != len(text) {
		return fail("trailing characters")
	}
	seconds := date.Unix() + int64(hour*3600+minute*60+second) - offsetSeconds
	return seconds*microsPerSecond + fractionMicros, ""
}

// formatRFC3339 writes UTC YYYY-MM-DDTHH:MM:SSZ, or with exactly six fraction digits when
// the microseconds are not zero. A year outside 0001–9999 is written as Go writes it, so
// validation refuses it (bad_timestamp) instead of moving the time.
func formatRFC3339(micros int64) string {
	seconds := micros / microsPerSecond
	fraction := micros % microsPerSecond
	if fraction < 0 {
		fraction += microsPerSecond
		seconds--
	}
	moment := time.Unix(seconds, 0).UTC()
	out := moment.Format("2006-01-02T15:04:05")
	if fraction != 0 {
		digits := strconv.FormatInt(fraction, 10)
		for len(digits) < 6 {
			digits = "0" + digits
		}
		out += "." + digits
	}
	return out + "Z"
}

// timeToMicros truncates (never rounds) a time to microseconds since the Unix epoch.
func timeToMicros(moment time.Time) int64 {
	seconds := moment.Unix()
	return seconds*microsPerSecond + int64(moment.Nanosecond()/1000)
}

// FormatTimestamp is the RFC 3339 text the SDK sends for a time: UTC, microseconds
// (truncated), six fraction digits only when they are not zero.
func FormatTimestamp(moment time.Time) string { return formatRFC3339(timeToMicros(moment)) }
