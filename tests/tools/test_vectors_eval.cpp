// test-vectors-eval: the C++ validator's verdict on each line of stdin, for
// tests/tools/gen_test_vectors.py, which writes schemas/test-vectors/events.json from it (so no
// expected canonical form, hash or reason is written by hand).
//   test-vectors-eval NOW MAX_EVENT_AGE MAX_FUTURE < events (one JSON text a line)
// Prints one JSON line per input line: {"reason":"<code>"} or
// {"canonical":"<canonical event>","payload_hash":"<hex>"}.
#include <cstdio>
#include <iostream>
#include <string>

#include "schemas/canonical.h"
#include "schemas/event.h"
#include "schemas/time.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: test-vectors-eval NOW MAX_EVENT_AGE MAX_FUTURE < lines\n");
        return 2;
    }
    const auto now = ul::parse_rfc3339(argv[1]);
    const auto max_age = ul::parse_duration(argv[2]);
    const auto max_future = ul::parse_duration(argv[3]);
    if (!now || !max_age || !max_future) {
        std::fprintf(stderr, "test-vectors-eval: bad NOW or duration\n");
        return 2;
    }
    ul::ValidationOptions options;
    options.max_event_age_us = *max_age;
    options.max_future_us = *max_future;
    ul::EventValidator validator(options);
    std::string line;
    std::string out;
    while (std::getline(std::cin, line)) {
        out.clear();
        auto event = validator.validate(line, *now);
        if (event) {
            std::string canonical;
            ul::append_canonical_event(*event, canonical);
            out += "{\"canonical\":";
            ul::append_json_string(out, canonical);
            out += ",\"payload_hash\":\"";
            out += ul::to_hex(ul::payload_hash(*event));
            out += "\"}";
        } else {
            out += "{\"reason\":\"";
            out += ul::reason_code(event.error().reason);
            out += "\",\"detail\":";
            ul::append_json_string(out, event.error().detail);
            out += "}";
        }
        std::cout << out << '\n';
    }
    return 0;
}
