package usageledger

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/zeebo/xxh3"
)

// Reason codes, the same as the ledger's validator (schemas/README.md); the first rule an event
// breaks, in this order, gives its one reason.
const (
	ReasonTooLarge      = "too_large"
	ReasonBadUTF8       = "bad_utf8"
	ReasonMalformedJSON = "malformed_json"
	ReasonNotObject     = "not_object"
	ReasonUnknownField  = "unknown_field"
	ReasonMissingField  = "missing_field"
	ReasonBadKey        = "bad_key"
	ReasonBadTenant     = "bad_tenant"
	ReasonBadSubject    = "bad_subject"
	ReasonBadMeter      = "bad_meter"
	ReasonBadQuantity   = "bad_quantity"
	ReasonBadTimestamp  = "bad_timestamp"
	ReasonBadProperties = "bad_properties"
)

// Limits of an event (the ledger's, schemas/README.md).
const (
	MaxEventBytes       = 16384
	MaxKeyBytes         = 128
	MaxTenantBytes      = 64
	MaxSubjectBytes     = 128
	MaxMeterBytes       = 64
	MaxProperties       = 16
	MaxPropertyKeyBytes = 64
	MaxPropertiesBytes  = 4096
	// MaxEventAge and MaxFuture are the ledger's default window around its clock.
	MaxEventAge = 35 * 24 * time.Hour
	MaxFuture   = 5 * time.Minute
)

// InvalidEventError: the event breaks a rule of the ledger and was not sent. Reason is one of
// the Reason* codes; Detail says what, quoting at most 64 bytes of the offending text.
type InvalidEventError struct {
	Reason string
	Detail string
	Index  int // Send: the event's place in the slice (0 for Record and Validate)
}

func (e *InvalidEventError) Error() string {
	return "invalid event: " + e.Reason + ": " + e.Detail
}

func invalid(reason, detail string) *InvalidEventError {
	return &InvalidEventError{Reason: reason, Detail: detail}
}

var fieldNames = []string{"idempotency_key", "tenant_id", "subject", "meter", "quantity",
	"timestamp", "properties"}

const (
	fieldKey = iota
	fieldTenant
	fieldSubject
	fieldMeter
	fieldQuantity
	fieldTimestamp
	fieldProperties
	fieldCount
)

type property struct {
	key   string
	kind  jsonKind // kindString, kindNumber or kindBool
	value string   // the string, the number's token, "true" or "false"
}

// validEvent is an event that passed every rule.
type validEvent struct {
	key, tenant, subject, meter string
	hasSubject                  bool
	quantityMicros              int64
	timestampMicros             int64
	properties                  []property
}

// utf8Prefix: at most maxBytes of text, cut at a character boundary.
func utf8Prefix(text string, maxBytes int) string {
	if len(text) <= maxBytes {
		return text
	}
	end := maxBytes
	for end > 0 && text[end]&0xC0 == 0x80 {
		end--
	}
	return text[:end]
}

func quoted(text string) string {
	shown := utf8Prefix(text, 64)
	if len(shown) < len(text) {
		return `"` + shown + `…"`
	}
	return `"` + shown + `"`
}

// isPrintable: no C0 controls, DEL or C1 controls (U+0080–U+009F).
func isPrintable(text string) bool {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c < 0x20 || c == 0x7F {
			return false
		}
		if c == 0xC2 && i+1 < len(text) && text[i+1] >= 0x80 && text[i+1] <= 0x9F {
			return false
		}
	}
	return true
}

func allBytes(text string, allowed func(byte) bool) bool {
	for i := 0; i < len(text); i++ {
		if !allowed(text[i]) {
			return false
		}
	}
	return true
}

func isTenantChar(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || isDigit(c) || c == '.' ||
		c == '_' || c == ':' || c == '-'
}

func isMeterChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || isDigit(c) || c == '_' || c == '.' || c == '-'
}

// messageOf is the JSON message an event value stands for: the bytes themselves for []byte
// and json.RawMessage, the message Record would send for an Event, the compact encoding
// (keys sorted) of any other Go value (a map[string]any decoded with UseNumber, a string…).
func messageOf(event any) ([]byte, *InvalidEventError) {
	switch value := event.(type) {
	case []byte:
		return value, nil
	case json.RawMessage:
		return value, nil
	case Event:
		return encodeEvent(&value)
	case *Event:
		return encodeEvent(value)
	}
	message, err := appendGoValue(nil, event)
	if err != nil {
		return nil, invalid(ReasonMalformedJSON, "cannot encode the event as JSON: "+err.Error())
	}
	return message, nil
}

// Validate applies the ledger's rules to an event, as of now (the window is MaxEventAge
// before now to MaxFuture after): nil, or an *InvalidEventError with the first broken rule's
// reason. event: an Event (validated as given: Record fills an empty IdempotencyKey and a zero
// Timestamp first), a raw JSON message ([]byte or json.RawMessage), or a decoded JSON value
// (map[string]any with json.Number numbers, from a json.Decoder with UseNumber). Pure.
func Validate(event any, now time.Time) error {
	if _, problem := validateAny(event, now); problem != nil {
		return problem
	}
	return nil
}

// CanonicalEvent validates an event (as Validate does) and returns its canonical JSON text,
// the bytes the ledger stores and hashes (schemas/README.md "Canonical encodings").
func CanonicalEvent(event any, now time.Time) ([]byte, error) {
	parsed, problem := validateAny(event, now)
	if problem != nil {
		return nil, problem
	}
	return appendCanonical(nil, parsed), nil
}

// PayloadHash is XXH3-128 (seed 0) of canonical event bytes, as 32 lowercase hex digits, the
// high 64 bits first: equal hashes are the same event. Pure.
func PayloadHash(canonical []byte) string {
	sum := xxh3.Hash128(canonical).Bytes()
	return hex.EncodeToString(sum[:])
}

func validateAny(event any, now time.Time) (*validEvent, *InvalidEventError) {
	message, problem := messageOf(event)
	if problem != nil {
		return nil, problem
	}
	return validateMessage(message, timeToMicros(now))
}

// collected is what one pass over the object gathered before any field rule is applied.
type collected struct {
	present, wrongType [fieldCount]bool
	text               [fieldCount]string
	subjectNull        bool
	propertiesNull     bool
	properties         *jsonValue
	firstUnknown       string
	hasUnknown         bool
}

func validateMessage(message []byte, nowMicros int64) (*validEvent, *InvalidEventError) {
	if len(message) > MaxEventBytes {
		return nil, invalid(ReasonTooLarge, fmt.Sprintf("message is %d bytes (at most %d)",
			len(message), MaxEventBytes))
	}
	if !utf8.Valid(message) {
		return nil, invalid(ReasonBadUTF8, "message is not valid UTF-8")
	}
	root, err := parseJSON(message)
	if err != nil {
		return nil, invalid(ReasonMalformedJSON, "not JSON: "+err.Error())
	}
	if root.kind != kindObject {
		return nil, invalid(ReasonNotObject, "the message is not a JSON object")
	}
	fields, problem := collect(root)
	if problem != nil {
		return nil, problem
	}
	return applyRules(fields, nowMicros)
}

func collect(root *jsonValue) (*collected, *InvalidEventError) {
	fields := &collected{}
	seenUnknown := map[string]bool{}
	for _, member := range root.members {
		which := -1
		for index, name := range fieldNames {
			if name == member.key {
				which = index
			}
		}
		if which < 0 {
			if seenUnknown[member.key] {
				return nil, invalid(ReasonMalformedJSON, "duplicate key "+quoted(member.key))
			}
			seenUnknown[member.key] = true
			if !fields.hasUnknown {
				fields.hasUnknown, fields.firstUnknown = true, member.key
			}
			continue
		}
		if fields.present[which] {
			return nil, invalid(ReasonMalformedJSON, "duplicate key "+quoted(member.key))
		}
		fields.present[which] = true
		value := member.value
		switch {
		case which == fieldProperties && value.kind == kindObject:
			fields.properties = value
		case which == fieldProperties && value.kind == kindNull:
			fields.propertiesNull = true
		case which == fieldSubject && value.kind == kindNull:
			fields.subjectNull = true
		case value.kind == kindString && which != fieldProperties:
			fields.text[which] = value.text
		case value.kind == kindNumber && which == fieldQuantity:
			fields.text[which] = value.text
		default:
			fields.wrongType[which] = true
		}
	}
	return fields, nil
}

func applyRules(fields *collected, nowMicros int64) (*validEvent, *InvalidEventError) {
	if fields.hasUnknown {
		return nil, invalid(ReasonUnknownField, "unknown field "+quoted(fields.firstUnknown))
	}
	for _, required := range []int{fieldKey, fieldTenant, fieldMeter, fieldQuantity, fieldTimestamp} {
		if !fields.present[required] {
			return nil, invalid(ReasonMissingField,
				"missing required field "+quoted(fieldNames[required]))
		}
	}
	event := &validEvent{}
	key := fields.text[fieldKey]
	if fields.wrongType[fieldKey] {
		return nil, invalid(ReasonBadKey, "idempotency_key must be a string")
	}
	if key == "" || len(key) > MaxKeyBytes || !isPrintable(key) {
		return nil, invalid(ReasonBadKey, "idempotency_key must be 1-128 bytes of printable "+
			"UTF-8 (got "+strconv.Itoa(len(key))+" bytes)")
	}
	event.key = key

	tenant := fields.text[fieldTenant]
	if fields.wrongType[fieldTenant] || tenant == "" || len(tenant) > MaxTenantBytes ||
		!allBytes(tenant, isTenantChar) {
		got := quoted(tenant)
		if fields.wrongType[fieldTenant] {
			got = "a non-string"
		}
		return nil, invalid(ReasonBadTenant,
			"tenant_id must be 1-64 characters of [A-Za-z0-9._:-], got "+got)
	}
	event.tenant = tenant

	if fields.present[fieldSubject] && !fields.subjectNull {
		subject := fields.text[fieldSubject]
		if fields.wrongType[fieldSubject] || len(subject) > MaxSubjectBytes || !isPrintable(subject) {
			return nil, invalid(ReasonBadSubject,
				"subject must be a string of at most 128 bytes of printable UTF-8")
		}
		event.subject, event.hasSubject = subject, true
	}

	meter := fields.text[fieldMeter]
	if fields.wrongType[fieldMeter] || meter == "" || len(meter) > MaxMeterBytes ||
		!allBytes(meter, isMeterChar) {
		got := quoted(meter)
		if fields.wrongType[fieldMeter] {
			got = "a non-string"
		}
		return nil, invalid(ReasonBadMeter, "meter must be 1-64 characters of [a-z0-9_.-], got "+got)
	}
	event.meter = meter

	if fields.wrongType[fieldQuantity] {
		return nil, invalid(ReasonBadQuantity, "quantity must be a JSON number or a decimal string")
	}
	micros, decimalProblem := parseQuantity(fields.text[fieldQuantity])
	if decimalProblem != decimalOK {
		return nil, invalid(ReasonBadQuantity, "quantity "+quoted(fields.text[fieldQuantity])+": "+
			string(decimalProblem)+" (a decimal >= 0 and <= 10^12, at most 6 fraction digits)")
	}
	event.quantityMicros = micros

	timestamp, problem := checkTimestamp(fields, nowMicros)
	if problem != nil {
		return nil, problem
	}
	event.timestampMicros = timestamp

	if fields.present[fieldProperties] && !fields.propertiesNull {
		properties, problem := checkProperties(fields)
		if problem != nil {
			return nil, problem
		}
		event.properties = properties
	}
	return event, nil
}

func saturatingAdd(left, right int64) int64 {
	sum := left + right
	if (right > 0 && sum < left) || (right < 0 && sum > left) {
		if right > 0 {
			return int64(^uint64(0) >> 1)
		}
		return -int64(^uint64(0)>>1) - 1
	}
	return sum
}

func checkTimestamp(fields *collected, nowMicros int64) (int64, *InvalidEventError) {
	if fields.wrongType[fieldTimestamp] {
		return 0, invalid(ReasonBadTimestamp, "timestamp must be an RFC 3339 string")
	}
	text := fields.text[fieldTimestamp]
	timestamp, why := parseRFC3339(text)
	if why != "" {
		return 0, invalid(ReasonBadTimestamp, why)
	}
	if timestamp > saturatingAdd(nowMicros, MaxFuture.Microseconds()) {
		return 0, invalid(ReasonBadTimestamp, "timestamp "+quoted(text)+
			" is more than 5m in the future")
	}
	if timestamp < saturatingAdd(nowMicros, -MaxEventAge.Microseconds()) {
		return 0, invalid(ReasonBadTimestamp, "timestamp "+quoted(text)+
			" is older than the late-arrival limit of 35d")
	}
	return timestamp, nil
}

func checkProperties(fields *collected) ([]property, *InvalidEventError) {
	bad := func(detail string) *InvalidEventError { return invalid(ReasonBadProperties, detail) }
	if fields.wrongType[fieldProperties] {
		return nil, bad("properties must be a flat JSON object")
	}
	object := fields.properties
	if len(object.members) > MaxProperties {
		return nil, bad("properties has " + strconv.Itoa(len(object.members)) + " keys (at most 16)")
	}
	for _, member := range object.members {
		kind := member.value.kind
		if kind != kindString && kind != kindNumber && kind != kindBool {
			return nil, bad("property " + quoted(member.key) + " must be a string, number or boolean")
		}
	}
	seen := map[string]bool{}
	for _, member := range object.members {
		if seen[member.key] {
			return nil, bad("duplicate property " + quoted(member.key))
		}
		seen[member.key] = true
	}
	for _, member := range object.members {
		if member.key == "" || len(member.key) > MaxPropertyKeyBytes || !isPrintable(member.key) {
			return nil, bad("property key " + quoted(member.key) +
				" must be 1-64 bytes of printable UTF-8")
		}
	}
	if object.rawBytes > MaxPropertiesBytes {
		return nil, bad("properties is " + strconv.Itoa(object.rawBytes) +
			" bytes of JSON (at most 4096)")
	}
	properties := make([]property, 0, len(object.members))
	for _, member := range object.members {
		properties = append(properties, property{key: member.key, kind: member.value.kind,
			value: member.value.text})
	}
	return properties, nil
}

// appendCanonical writes the canonical event: compact JSON, fixed key order, absent optional
// fields omitted, properties sorted by their UTF-8 bytes, exact numbers as canonical decimals.
func appendCanonical(out []byte, event *validEvent) []byte {
	out = append(out, `{"idempotency_key":`...)
	out = appendJSONString(out, event.key)
	out = append(out, `,"tenant_id":`...)
	out = appendJSONString(out, event.tenant)
	if event.hasSubject {
		out = append(out, `,"subject":`...)
		out = appendJSONString(out, event.subject)
	}
	out = append(out, `,"meter":`...)
	out = appendJSONString(out, event.meter)
	out = append(out, `,"quantity":"`...)
	out = append(out, formatMicros(event.quantityMicros)...)
	out = append(out, `","timestamp":"`...)
	out = append(out, formatRFC3339(event.timestampMicros)...)
	out = append(out, '"')
	if len(event.properties) > 0 {
		sorted := append([]property(nil), event.properties...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].key < sorted[j].key })
		out = append(out, `,"properties":{`...)
		for i, p := range sorted {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendJSONString(out, p.key)
			out = append(out, ':')
			switch p.kind {
			case kindString:
				out = appendJSONString(out, p.value)
			case kindNumber:
				out = appendNumberProperty(out, p.value)
			default:
				out = append(out, p.value...)
			}
		}
		out = append(out, '}')
	}
	return append(out, '}')
}

// appendNumberProperty: the canonical decimal when the token is exact in micro-units and at
// most 10^12 in magnitude (a '-' kept for non-zero negatives), else the raw token.
func appendNumberProperty(out []byte, token string) []byte {
	negative := token != "" && token[0] == '-'
	magnitude := token
	if negative {
		magnitude = token[1:]
	}
	micros, problem := parseQuantity(magnitude)
	if problem != decimalOK {
		return append(out, token...)
	}
	if negative && micros != 0 {
		out = append(out, '-')
	}
	return append(out, formatMicros(micros)...)
}
