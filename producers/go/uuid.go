package usageledger

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// UUIDv7 (RFC 9562) as the C++ client makes them (producers/README.md): 48-bit Unix
// milliseconds, version 7, a 12-bit counter started below 1024 each new millisecond, variant
// 0b10, 62 random bits. The UUIDs of one process increase strictly, also within a millisecond
// and when the clock steps back (the last millisecond is reused; a counter overflow borrows
// the next one).
type uuidGenerator struct {
	mu           sync.Mutex
	lastMillis   uint64
	counter      uint64
	hasGenerated bool
}

var defaultUUIDs uuidGenerator

// NewUUIDv7 returns a new UUIDv7 in its 36-character text form. Safe from any goroutine.
func NewUUIDv7() string {
	return defaultUUIDs.next(uint64(time.Now().UnixMilli()))
}

func randomUint64() uint64 {
	var buffer [8]byte
	if _, err := rand.Read(buffer[:]); err != nil {
		panic("usageledger: crypto/rand failed: " + err.Error())
	}
	return binary.BigEndian.Uint64(buffer[:])
}

func (g *uuidGenerator) next(nowMillis uint64) string {
	random := randomUint64()
	g.mu.Lock()
	switch {
	case !g.hasGenerated || nowMillis > g.lastMillis:
		g.lastMillis, g.counter = nowMillis, random>>54 // below 1024
	default: // the same millisecond, or the clock stepped back: count on
		g.counter++
		if g.counter > 0xFFF {
			g.lastMillis++
			g.counter = 0
		}
	}
	g.hasGenerated = true
	millis, counter := g.lastMillis, g.counter
	g.mu.Unlock()
	return formatUUIDv7(millis, counter, randomUint64())
}

// formatUUIDv7 is the pure form: the millisecond, the 12-bit counter and 62 random bits.
func formatUUIDv7(millis, counter, random uint64) string {
	var raw [16]byte
	high := millis<<16 | 0x7000 | counter&0xFFF
	low := 0x8000000000000000 | random&0x3FFFFFFFFFFFFFFF
	binary.BigEndian.PutUint64(raw[0:8], high)
	binary.BigEndian.PutUint64(raw[8:16], low)
	var text [36]byte
	hex.Encode(text[0:8], raw[0:4])
	text[8] = '-'
	hex.Encode(text[9:13], raw[4:6])
	text[13] = '-'
	hex.Encode(text[14:18], raw[6:8])
	text[18] = '-'
	hex.Encode(text[19:23], raw[8:10])
	text[23] = '-'
	hex.Encode(text[24:36], raw[10:16])
	return string(text[:])
}
