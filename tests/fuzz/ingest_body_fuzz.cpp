// Fuzzes the body splitting of POST /v1/events (projections/api/ingest_body.h): the first byte
// picks the content type (bit 0: NDJSON, else JSON) and max_events (the rest, 0..127); the other
// bytes are the body. Every text found is then validated as ingest does. Invariants: the texts
// are non-empty views into the body, in order, at most max_events + 1 of them; NDJSON texts hold
// no newline.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "projections/api/ingest_body.h"
#include "schemas/event.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static ul::EventValidator validator;
    if (size == 0) {
        return 0;
    }
    const bool ndjson = (data[0] & 1U) != 0;
    const std::size_t max_events = data[0] >> 1U;
    // An exact-size copy: ASan sees any read past the body's end.
    const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::string_view content_type = ndjson ? "application/x-ndjson" : "application/json";
    auto texts = ul::split_events(body, content_type, max_events);
    if (!texts) {
        FUZZ_CHECK(!ndjson, "NDJSON is never refused");
        FUZZ_CHECK(!texts.error().empty(), "a refused body has a detail");
        return 0;
    }
    FUZZ_CHECK(texts->size() <= max_events + 1, "more than max_events + 1 texts");
    const char* previous_end = body.data();
    for (const std::string_view text : *texts) {
        FUZZ_CHECK(!text.empty(), "an empty event text");
        FUZZ_CHECK(text.data() >= previous_end, "event texts overlap or are out of order");
        FUZZ_CHECK(text.data() + text.size() <= body.data() + body.size(),
                   "an event text outside the body");
        previous_end = text.data() + text.size();
        if (ndjson) {
            FUZZ_CHECK(text.find('\n') == std::string_view::npos, "an NDJSON text holds a newline");
        }
        (void)validator.validate(text, 0);
    }
    return 0;
}
