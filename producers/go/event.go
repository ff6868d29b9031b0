package usageledger

import (
	"sort"
	"time"
)

// Event is one usage event. Quantity is a decimal string ("1500", "0.25", "1.5e3"): exact,
// never a float; it is sent in canonical form. Record fills an empty IdempotencyKey with a
// UUIDv7 and a zero Timestamp with the current time (UTC, truncated to microseconds).
type Event struct {
	TenantID       string
	Meter          string
	Quantity       string
	Subject        *string        // optional; nil = absent, "" is a present empty subject
	Properties     map[string]any // optional: string, bool, json.Number or integer values
	Timestamp      time.Time
	IdempotencyKey string
}

// encodeEvent writes the JSON message for an event: fields in the canonical order, an empty
// key and a zero timestamp left out (so validation says missing_field), the quantity in
// canonical form when it parses (as given otherwise, so validation says why not).
func encodeEvent(event *Event) ([]byte, *InvalidEventError) {
	out := make([]byte, 0, 256)
	out = append(out, '{')
	if event.IdempotencyKey != "" {
		out = append(out, `"idempotency_key":`...)
		out = appendJSONString(out, event.IdempotencyKey)
		out = append(out, ',')
	}
	out = append(out, `"tenant_id":`...)
	out = appendJSONString(out, event.TenantID)
	if event.Subject != nil {
		out = append(out, `,"subject":`...)
		out = appendJSONString(out, *event.Subject)
	}
	out = append(out, `,"meter":`...)
	out = appendJSONString(out, event.Meter)
	out = append(out, `,"quantity":`...)
	if micros, problem := parseQuantity(event.Quantity); problem == decimalOK {
		out = appendJSONString(out, formatMicros(micros))
	} else {
		out = appendJSONString(out, event.Quantity)
	}
	if !event.Timestamp.IsZero() {
		out = append(out, `,"timestamp":`...)
		out = appendJSONString(out, FormatTimestamp(event.Timestamp))
	}
	if len(event.Properties) > 0 {
		keys := make([]string, 0, len(event.Properties))
		for key := range event.Properties {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		out = append(out, `,"properties":{`...)
		for i, key := range keys {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendJSONString(out, key)
			out = append(out, ':')
			var err error
			if out, err = appendGoValue(out, event.Properties[key]); err != nil {
				return nil, invalid(ReasonBadProperties, "property "+quoted(key)+": "+err.Error())
			}
		}
		out = append(out, '}')
	}
	return append(out, '}'), nil
}
