// Fuzzes the event validator (schemas/event.h): the bytes are one message, judged strict and
// lenient. Invariants: a message valid in strict mode is valid in lenient mode with the same
// canonical form; a valid event's canonical form (schemas/canonical.h) re-validates as valid,
// to the same canonical bytes and payload hash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/canonical.h"
#include "schemas/event.h"
#include "schemas/time.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// schemas/test-vectors/events.json's "now": its valid events are valid at this time.
constexpr std::int64_t kNow_us = 1'795'348'800LL * ul::kMicrosPerSecond;  // 2026-11-22T12:00:00Z

// The canonical form of `message` when valid under `validator`, else nullopt-like empty + false.
bool canonical_of(ul::EventValidator& validator, std::string_view message, std::string& out) {
    auto event = validator.validate(message, kNow_us);
    if (!event) {
        FUZZ_CHECK(!event.error().detail.empty(), "an invalid event has a detail");
        FUZZ_CHECK(event.error().reason != ul::Reason::limit_exceeded,
                   "the validator never gives limit_exceeded");
        return false;
    }
    out.clear();
    ul::append_canonical_event(*event, out);
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static ul::EventValidator strict(ul::ValidationOptions{.strict = true});
    static ul::EventValidator lenient(ul::ValidationOptions{.strict = false});
    const std::string_view message(reinterpret_cast<const char*>(data), size);

    std::string strict_canonical;
    std::string lenient_canonical;
    const bool strict_valid = canonical_of(strict, message, strict_canonical);
    const bool lenient_valid = canonical_of(lenient, message, lenient_canonical);
    if (strict_valid) {
        FUZZ_CHECK(lenient_valid, "valid in strict mode but not in lenient mode");
        FUZZ_CHECK(strict_canonical == lenient_canonical, "strict and lenient canonical differ");
    }
    if (!lenient_valid) {
        return 0;
    }
    // The canonical form is an event too, valid in strict mode (it holds no unknown field), and
    // its own canonical form.
    std::string again;
    FUZZ_CHECK(canonical_of(strict, lenient_canonical, again),
               "a valid event's canonical form does not re-validate");
    FUZZ_CHECK(again == lenient_canonical, "the canonical form is not a fixed point");
    auto first = lenient.validate(message, kNow_us);
    FUZZ_CHECK(first.ok(), "validation is not repeatable");
    const ul::PayloadHash hash = ul::payload_hash(*first);
    auto second = strict.validate(lenient_canonical, kNow_us);
    FUZZ_CHECK(second.ok(), "the canonical form does not re-validate");
    FUZZ_CHECK(ul::payload_hash(*second) == hash, "the canonical form has another payload hash");
    return 0;
}
