package usageledger

import (
	"strings"
	"testing"
	"time"
)

func TestQuantities(t *testing.T) {
	good := map[string]string{"1500": "1500", "1.5e3": "1500", "1500.000": "1500", "0": "0",
		"0.000001": "0.000001", "1.0000000": "1", "1" + strings.Repeat("0", 50) + "e-45": "100000",
		"1000000000000": "1000000000000", "0.25": "0.25", "0e-99999999": "0"}
	for text, want := range good {
		if got, err := FormatQuantity(text); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", text, got, err, want)
		}
	}
	bad := map[string]decimalError{"": decimalEmpty, "-1": decimalNegative, "-0": decimalNegative,
		"+1": decimalSyntax, "01": decimalSyntax, ".5": decimalSyntax, "1.": decimalSyntax,
		"0x10": decimalSyntax, " 1": decimalSyntax, "1.1234567": decimalTooManyFractions,
		"1e-7": decimalTooManyFractions, "1e13": decimalOutOfRange,
		"1000000000000.000001": decimalOutOfRange, "1e999999999999": decimalOutOfRange}
	for text, want := range bad {
		if _, got := parseQuantity(text); got != want {
			t.Errorf("%q: %q, want %q", text, got, want)
		}
	}
}

func TestTimestamps(t *testing.T) {
	micros, why := parseRFC3339("2026-11-30T23:59:59.9999999+01:00")
	if why != "" || formatRFC3339(micros) != "2026-11-30T22:59:59.999999Z" {
		t.Fatalf("%s %s", formatRFC3339(micros), why)
	}
	for _, text := range []string{"2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-11-22T24:00:00Z", "2026-11-22T10:00:60Z", "2026-11-22T10:00Z", "2026-11-22T10:00:00",
		"2026-11-22 10:00:00Z", "2026-11-22T10:00:00+0530", "0000-01-01T00:00:00Z"} {
		if _, why := parseRFC3339(text); why == "" {
			t.Errorf("%s accepted", text)
		}
	}
	if got := FormatTimestamp(time.Date(2026, 11, 22, 10, 15, 0, 250_000_999, time.UTC)); got != "2026-11-22T10:15:00.250000Z" {
		t.Fatal(got)
	}
}

func TestUUIDv7(t *testing.T) {
	var generator uuidGenerator
	previous := ""
	for i := 0; i < 10000; i++ {
		millis := uint64(1_700_000_000_000)
		if i == 5000 {
			millis -= 1000 // the clock steps back
		}
		id := generator.next(millis + uint64(i/3000))
		if len(id) != 36 || id[14] != '7' || !strings.ContainsAny(id[19:20], "89ab") {
			t.Fatalf("not a UUIDv7: %s", id)
		}
		if id <= previous {
			t.Fatalf("not increasing: %s after %s", id, previous)
		}
		previous = id
	}
	if a, b := NewUUIDv7(), NewUUIDv7(); a >= b {
		t.Fatalf("%s then %s", a, b)
	}
}

func TestEventEncodingSendsCanonicalQuantity(t *testing.T) {
	subject := "user\n1"
	message, problem := encodeEvent(&Event{IdempotencyKey: "k", TenantID: "acme", Meter: "tokens",
		Quantity: "1.5e3", Subject: &subject, Timestamp: time.Unix(0, 0),
		Properties: map[string]any{"b": true, "a": int64(-3)}})
	want := `{"idempotency_key":"k","tenant_id":"acme","subject":"user\n1","meter":"tokens","quantity":"1500","timestamp":"1970-01-01T00:00:00Z","properties":{"a":-3,"b":true}}`
	if problem != nil || string(message) != want {
		t.Fatalf("%s %v", message, problem)
	}
}
