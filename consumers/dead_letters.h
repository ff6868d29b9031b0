// Reading usage.events.dlq (what the ledger's relay publishes: the original key and bytes, and
// headers error, detail, source-partition, source-offset, null-value) for people: `usage-ledger
// dlq list` and GET /v1/admin/dead-letters. A page is read with its own short-lived consumer (no
// group, nothing committed) from a cursor (per partition, the next offset) up to each
// partition's end as it was when the page started, keeping the letters that match the filter,
// at most `limit`; the answer's cursor continues exactly after the last letter looked at.
// The filters, the cursor text and the JSON form are pure (unit-tested); read_dead_letters does
// the I/O. Threading: any thread; each call has its own consumer.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "consumers/kafka.h"
#include "schemas/result.h"

namespace ul {

struct DeadLetterRecord {
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::int64_t timestamp_ms = 0;  // Kafka's (when the relay published it)
    std::string error;              // the reason code
    std::string detail;
    std::int64_t source_partition = -1;  // usage.events position of the original message
    std::int64_t source_offset = -1;
    std::string key;
    std::string value;
    bool value_null = false;
};

using DeadLetterCursor = std::map<std::int32_t, std::int64_t>;  // partition → next offset

struct DeadLetterQuery {
    std::string reason;  // empty: any
    std::string tenant;  // empty: any
    std::size_t limit = 100;
    DeadLetterCursor cursor;  // partitions not named: from their first offset
};

struct DeadLetterPage {
    std::vector<DeadLetterRecord> letters;  // in (partition, offset) order
    DeadLetterCursor next;                  // every partition's next offset to look at
    bool more = false;                      // letters were left unread (read on with `next`)
};

// "P.O_P.O…" (partition.offset pairs joined by '_', URL-safe); the empty text is the start.
std::string encode_dead_letter_cursor(const DeadLetterCursor& cursor);
Result<DeadLetterCursor, std::string> decode_dead_letter_cursor(std::string_view text);

// The tenant a dead letter is about: the original event's "tenant_id" when its bytes are a JSON
// object with a string tenant_id, else the Kafka key (producers key events by tenant).
std::string dead_letter_tenant(const DeadLetterRecord& letter);
bool dead_letter_matches(const DeadLetterRecord& letter, const DeadLetterQuery& query);

// {"partition","offset","published_at","error","detail","source":{"partition","offset"},
//  "tenant_id","key","value"} — value: the original bytes as a string when they are UTF-8
// (null for a NULL value), else "value_base64".
std::string dead_letter_json(const DeadLetterRecord& letter);

Result<DeadLetterPage, std::string> read_dead_letters(const std::string& bootstrap,
                                                      const kafka::Properties& settings,
                                                      const std::string& topic,
                                                      const DeadLetterQuery& query,
                                                      std::chrono::milliseconds timeout);

}  // namespace ul
