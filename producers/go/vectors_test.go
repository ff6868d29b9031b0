package usageledger

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The shared vectors (schemas/test-vectors/events.json): every SDK agrees with the ledger's
// validator on the reason of each invalid event and the canonical form and payload hash of
// each valid one.
type vectorFile struct {
	Format      int    `json:"format"`
	Now         string `json:"now"`
	MaxEventAge string `json:"max_event_age"`
	MaxFuture   string `json:"max_future"`
	Valid       []struct {
		Name        string          `json:"name"`
		Event       json.RawMessage `json:"event"`
		Canonical   string          `json:"canonical"`
		PayloadHash string          `json:"payload_hash"`
	} `json:"valid"`
	Invalid []struct {
		Name   string          `json:"name"`
		Event  json.RawMessage `json:"event"`
		Reason string          `json:"reason"`
	} `json:"invalid"`
}

func loadVectors(t *testing.T) (*vectorFile, time.Time) {
	t.Helper()
	path := os.Getenv("UL_TEST_VECTORS")
	if path == "" {
		path = filepath.Join("..", "..", "schemas", "test-vectors", "events.json")
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the vectors: %v", err)
	}
	var vectors vectorFile
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.UseNumber()
	if err := decoder.Decode(&vectors); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	if vectors.Format != 1 || vectors.MaxEventAge != "35d" || vectors.MaxFuture != "5m" {
		t.Fatalf("vectors: format %d, windows %s/%s; this SDK knows format 1 with 35d/5m",
			vectors.Format, vectors.MaxEventAge, vectors.MaxFuture)
	}
	if len(vectors.Valid) == 0 || len(vectors.Invalid) == 0 {
		t.Fatalf("vectors: %d valid, %d invalid: none to check", len(vectors.Valid),
			len(vectors.Invalid))
	}
	now, err := time.Parse(time.RFC3339, vectors.Now)
	if err != nil {
		t.Fatalf("vectors: now %q: %v", vectors.Now, err)
	}
	return &vectors, now
}

// decoded: the event as a Go value, numbers as json.Number (what a caller's map would hold).
func decoded(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		t.Fatalf("decoding the event: %v", err)
	}
	return value
}

// asEvent converts a decoded valid event into an Event, the way a caller would fill one.
func asEvent(t *testing.T, value any) Event {
	t.Helper()
	fields := value.(map[string]any)
	text := func(name string) string {
		switch v := fields[name].(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		}
		return ""
	}
	event := Event{IdempotencyKey: text("idempotency_key"), TenantID: text("tenant_id"),
		Meter: text("meter"), Quantity: text("quantity")}
	if subject, ok := fields["subject"].(string); ok {
		event.Subject = &subject
	}
	if properties, ok := fields["properties"].(map[string]any); ok {
		event.Properties = properties
	}
	micros, why := parseRFC3339(text("timestamp"))
	if why != "" {
		t.Fatalf("timestamp: %s", why)
	}
	event.Timestamp = time.UnixMicro(micros)
	return event
}

func TestValidVectors(t *testing.T) {
	vectors, now := loadVectors(t)
	for _, vector := range vectors.Valid {
		vector := vector
		t.Run(vector.Name, func(t *testing.T) {
			forms := map[string]any{"raw": vector.Event, "decoded": decoded(t, vector.Event)}
			forms["Event"] = asEvent(t, forms["decoded"])
			for form, event := range forms {
				canonical, err := CanonicalEvent(event, now)
				if err != nil {
					t.Fatalf("%s: refused: %v", form, err)
				}
				if string(canonical) != vector.Canonical {
					t.Errorf("%s: canonical\n got %s\nwant %s", form, canonical, vector.Canonical)
				}
				if err := Validate(event, now); err != nil {
					t.Errorf("%s: Validate: %v", form, err)
				}
			}
			if hash := PayloadHash([]byte(vector.Canonical)); hash != vector.PayloadHash {
				t.Errorf("payload hash %s, want %s", hash, vector.PayloadHash)
			}
		})
	}
}

func TestInvalidVectors(t *testing.T) {
	vectors, now := loadVectors(t)
	for _, vector := range vectors.Invalid {
		vector := vector
		t.Run(vector.Name, func(t *testing.T) {
			forms := map[string]any{"raw": vector.Event, "decoded": decoded(t, vector.Event)}
			for form, event := range forms {
				err := Validate(event, now)
				problem, ok := err.(*InvalidEventError)
				if !ok {
					t.Errorf("%s: Validate = %v, want reason %s", form, err, vector.Reason)
					continue
				}
				if problem.Reason != vector.Reason {
					t.Errorf("%s: reason %s (%s), want %s", form, problem.Reason, problem.Detail,
						vector.Reason)
				}
				if _, err := CanonicalEvent(event, now); err == nil {
					t.Errorf("%s: CanonicalEvent accepted an invalid event", form)
				}
			}
		})
	}
}
