// The body of POST /v1/events split into event texts: one event object, a JSON array of events,
// or NDJSON (Content-Type: application/x-ndjson). Pure (no I/O, no allocation but the result),
// thread-safe; split out of ingest.cpp so tests and fuzzers (tests/fuzz/ingest_body_fuzz.cpp)
// reach it without Kafka.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/result.h"

namespace ul {

// Splits `body` into event texts (views into `body`); an error text when it is neither an
// object, an array of events, nor NDJSON. A body whose first non-blank byte is not '[' is one
// event (the validator judges it). NDJSON: one event per line ("\r\n" too), blank lines skipped.
// Stops after `max_events` + 1 events: the caller refuses a body holding more than `max_events`.
Result<std::vector<std::string_view>, std::string> split_events(std::string_view body,
                                                                std::string_view content_type,
                                                                std::size_t max_events);

}  // namespace ul
