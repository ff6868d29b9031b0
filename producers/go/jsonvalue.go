package usageledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
)

// The JSON layer: an ordered parse (keys keep their order and their duplicates, numbers keep
// their token, objects know their size as written) and an encoder that escapes the way the
// canonical form does. encoding/json's maps would lose duplicates and floats would lose digits.

type jsonKind int

const (
	kindNull jsonKind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

type jsonMember struct {
	key   string
	value *jsonValue
}

type jsonValue struct {
	kind     jsonKind
	text     string // a string's value, a number's token, "true" or "false"
	members  []jsonMember
	elements []*jsonValue
	rawBytes int // objects: bytes of the JSON text from '{' to '}', as written
}

const maxJSONDepth = 33 // the root object and 32 levels below it

var errTooDeep = errors.New("nesting deeper than 32")

// parseJSON reads one JSON value that must be the whole message.
func parseJSON(message []byte) (*jsonValue, error) {
	decoder := json.NewDecoder(bytes.NewReader(message))
	decoder.UseNumber()
	root, err := readValue(decoder, 1)
	if err != nil {
		return nil, err
	}
	if _, err := decoder.Token(); err != io.EOF {
		return nil, errors.New("trailing content after the value")
	}
	return root, nil
}

func readValue(decoder *json.Decoder, depth int) (*jsonValue, error) {
	if depth > maxJSONDepth {
		return nil, errTooDeep
	}
	token, err := decoder.Token()
	if err != nil {
		return nil, err
	}
	switch value := token.(type) {
	case nil:
		return &jsonValue{kind: kindNull}, nil
	case bool:
		return &jsonValue{kind: kindBool, text: strconv.FormatBool(value)}, nil
	case json.Number:
		return &jsonValue{kind: kindNumber, text: value.String()}, nil
	case string:
		return &jsonValue{kind: kindString, text: value}, nil
	case json.Delim:
		if value == '[' {
			array := &jsonValue{kind: kindArray}
			for decoder.More() {
				element, err := readValue(decoder, depth+1)
				if err != nil {
					return nil, err
				}
				array.elements = append(array.elements, element)
			}
			_, err := decoder.Token() // ']'
			return array, err
		}
		start := decoder.InputOffset() - 1 // the '{'
		object := &jsonValue{kind: kindObject}
		for decoder.More() {
			keyToken, err := decoder.Token()
			if err != nil {
				return nil, err
			}
			key, _ := keyToken.(string)
			member, err := readValue(decoder, depth+1)
			if err != nil {
				return nil, err
			}
			object.members = append(object.members, jsonMember{key: key, value: member})
		}
		if _, err := decoder.Token(); err != nil { // '}'
			return nil, err
		}
		object.rawBytes = int(decoder.InputOffset() - start)
		return object, nil
	}
	return nil, fmt.Errorf("unexpected token %v", token)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes a JSON string escaped as the canonical form escapes: `"`, `\` and
// the C0 controls only; everything else (also invalid UTF-8, which validation refuses) raw.
func appendJSONString(out []byte, text string) []byte {
	out = append(out, '"')
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\b':
			out = append(out, '\\', 'b')
		case c == '\f':
			out = append(out, '\\', 'f')
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

// appendGoValue encodes a Go value as compact JSON: maps with their keys sorted, json.Number
// and json.RawMessage as written, integers exactly. Floats are written in their shortest
// exact form (NaN and infinities are refused); prefer json.Number or strings.
func appendGoValue(out []byte, value any) ([]byte, error) {
	switch v := value.(type) {
	case nil:
		return append(out, "null"...), nil
	case bool:
		return strconv.AppendBool(out, v), nil
	case string:
		return appendJSONString(out, v), nil
	case *string:
		if v == nil {
			return append(out, "null"...), nil
		}
		return appendJSONString(out, *v), nil
	case json.Number:
		return append(out, v...), nil
	case json.RawMessage:
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return nil, err
		}
		return append(out, compact.Bytes()...), nil
	case int:
		return strconv.AppendInt(out, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(out, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(out, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(out, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(out, v, 10), nil
	case uint:
		return strconv.AppendUint(out, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(out, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(out, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(out, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(out, v, 10), nil
	case float32:
		return appendFloat(out, float64(v), 32)
	case float64:
		return appendFloat(out, v, 64)
	case map[string]any:
		return appendObject(out, v)
	case map[string]string:
		generic := make(map[string]any, len(v))
		for key, text := range v {
			generic[key] = text
		}
		return appendObject(out, generic)
	case []any:
		out = append(out, '[')
		for i, element := range v {
			if i > 0 {
				out = append(out, ',')
			}
			var err error
			if out, err = appendGoValue(out, element); err != nil {
				return nil, err
			}
		}
		return append(out, ']'), nil
	}
	var encoded bytes.Buffer
	encoder := json.NewEncoder(&encoded)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		return nil, err
	}
	return append(out, bytes.TrimRight(encoded.Bytes(), "\n")...), nil
}

func appendFloat(out []byte, value float64, bits int) ([]byte, error) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return nil, errors.New("NaN and infinities are not JSON numbers")
	}
	return strconv.AppendFloat(out, value, 'g', -1, bits), nil
}

func appendObject(out []byte, object map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(object))
	for key := range object {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	out = append(out, '{')
	for i, key := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, key)
		out = append(out, ':')
		var err error
		if out, err = appendGoValue(out, object[key]); err != nil {
			return nil, err
		}
	}
	return append(out, '}'), nil
}
