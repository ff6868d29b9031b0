#include "projections/api/ingest_body.h"

#include <simdjson.h>

namespace ul {

namespace {

std::vector<std::string_view> split_lines(std::string_view body, std::size_t max_events) {
    std::vector<std::string_view> events;
    std::string_view rest(body);
    while (!rest.empty() && events.size() <= max_events) {
        const auto end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.find_first_not_of(" \t") != std::string_view::npos) {
            events.push_back(line);
        }
    }
    return events;
}

}  // namespace

Result<std::vector<std::string_view>, std::string> split_events(std::string_view body,
                                                                std::string_view content_type,
                                                                std::size_t max_events) {
    if (content_type.starts_with("application/x-ndjson")) {
        return split_lines(body, max_events);
    }
    std::vector<std::string_view> events;
    const auto first = body.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return unexpected(std::string("the body is empty"));
    }
    if (body[first] != '[') {
        events.emplace_back(body);  // one event: the validator judges it
        return events;
    }
    simdjson::ondemand::parser parser;
    const simdjson::padded_string padded(body);
    simdjson::ondemand::document document;
    simdjson::ondemand::array array;
    if (parser.iterate(padded).get(document) != simdjson::SUCCESS ||
        document.get_array().get(array) != simdjson::SUCCESS) {
        return unexpected(std::string("the body is not a JSON array of events"));
    }
    for (auto element : array) {
        if (events.size() > max_events) {
            break;
        }
        simdjson::ondemand::value value;
        std::string_view raw;
        if (element.get(value) != simdjson::SUCCESS ||
            simdjson::to_json_string(value).get(raw) != simdjson::SUCCESS) {
            return unexpected(std::string("the body is not a valid JSON array"));
        }
        // raw points into the padded copy: re-point it into `body` (same offsets).
        const auto offset = static_cast<std::size_t>(raw.data() - padded.data());
        std::string_view text(body.data() + offset, raw.size());
        while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' ||
                                 text.back() == '\t')) {
            text.remove_suffix(1);
        }
        events.push_back(text);
    }
    if (events.empty()) {
        return unexpected(std::string("the array holds no events"));
    }
    return events;
}

}  // namespace ul
