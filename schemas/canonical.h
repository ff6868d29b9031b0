// Canonical encodings (stable forever: the ledger stores them and hashes them):
// - the canonical event JSON, whose XXH3-128 is the payload hash used for conflict detection;
// - the ledger entry: ledger position + hash-chain link + canonical event.
// The exact byte formats are in schemas/README.md. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "schemas/event.h"
#include "schemas/result.h"

namespace ul {

struct PayloadHash {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    friend bool operator==(const PayloadHash&, const PayloadHash&) = default;
};

// Appends the canonical JSON of `event` to `out` (byte format in README.md); allocates nothing
// but what `out` needs to grow.
void append_canonical_event(const UsageEvent& event, std::string& out);
// XXH3-128 of the canonical JSON: equal for "1500", 1500 and 1.5e3, for "+00:00" and "Z", for
// any key order; different for any change of meaning.
PayloadHash payload_hash(const UsageEvent& event);
PayloadHash hash_bytes(std::string_view bytes);  // XXH3-128, seed 0
// 32 lowercase hex digits, high 64 bits first: the canonical XXH128 representation (xxhsum's).
std::string to_hex(const PayloadHash& hash);
Result<PayloadHash, std::string> hash_from_hex(std::string_view hex);
// Any bytes as lowercase hex (2 digits a byte), and back: nullopt for an odd length or a
// character other than 0-9 a-f. Cursors and stored keys in text.
std::string hex_encode(std::string_view bytes);
std::optional<std::string> hex_decode(std::string_view text);

struct LedgerEntryHeader {
    std::uint32_t partition = 0;
    std::uint64_t sequence = 0;
    std::int64_t source_offset = 0;
    PayloadHash prev_hash;  // entry_hash of the previous entry of the partition; zero for the first
};

// {"partition":3,"sequence":17,"source_offset":1234,"prev_hash":"<32 hex>","event":{…}}
void append_ledger_entry(const LedgerEntryHeader& header, const UsageEvent& event,
                         std::string& out);
// The same, from an event already in canonical form (as append_canonical_event wrote it).
void append_ledger_entry_canonical(const LedgerEntryHeader& header,
                                   std::string_view canonical_event, std::string& out);
// The chain link: XXH3-128 of the encoded entry bytes.
PayloadHash entry_hash(std::string_view encoded_entry);

struct DecodedLedgerEntry {
    LedgerEntryHeader header;
    std::string_view event_json;  // the canonical event, a view into the encoded entry
};
// Reads back the header of an entry written by append_ledger_entry (strict: exactly that form,
// canonical integers, lowercase hex). The event is not re-validated: the caller's business.
// Without `read_prev_hash` the chain link is passed over (left zero, its hex not checked): for
// readers that apply entries in sequence order and leave the chain to the ledger's `verify`.
Result<DecodedLedgerEntry, std::string> decode_ledger_entry_header(std::string_view encoded,
                                                                   bool read_prev_hash = true);

// Reads a canonical event (exactly as append_canonical_event writes it) back into `event`
// without the validator: a single forward scan, no allocation once `unescaped` has grown (it
// holds the strings that had escapes; `event`'s views point into `canonical` and `unescaped`).
// For a canonical event it gives what EventValidator::validate gives (tests/unit/
// canonical_test.cpp checks it); anything else is an error (callers fall back to the
// validator), never a wrong event. No range checks on the time: entries were validated.
Result<bool, std::string> decode_canonical_event(std::string_view canonical, UsageEvent& event,
                                                 std::string& unescaped);

// The tenant_id of a canonical event (or of an entry holding one): the first "tenant_id" field,
// which needs no unescaping (its alphabet is plain). Empty when there is none. For filtering
// entries without parsing them.
std::string_view canonical_tenant_id(std::string_view canonical);

// RFC 8259 string escaping, minimal: '"', '\\' and control characters; UTF-8 kept as is.
void append_json_escaped(std::string& out, std::string_view text);  // without quotes
void append_json_string(std::string& out, std::string_view text);   // with quotes

}  // namespace ul
