// The shared test vectors of the producer SDKs (schemas/test-vectors/events.json, written by
// tests/tools/gen_test_vectors.py) against the real validator: every valid vector's canonical
// form and payload hash, every invalid vector's reason code. The SDKs check the same file, so
// this test is what makes "the SDK agrees with the vectors" mean "the SDK agrees with the ledger".
#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "schemas/canonical.h"
#include "schemas/event.h"
#include "schemas/time.h"

namespace ul {
namespace {

namespace od = simdjson::ondemand;

const std::string kVectorsPath = std::string(UL_SOURCE_DIR) + "/schemas/test-vectors/events.json";

// The codes an SDK can produce: all but the byte-level rules (bad_utf8, malformed_json).
std::set<std::string, std::less<>> sdk_reasons() {
    std::set<std::string, std::less<>> out;
    for (std::size_t i = 0; i < kReasonCount; ++i) {
        const auto reason = static_cast<Reason>(i);
        if (reason != Reason::bad_utf8 && reason != Reason::malformed_json &&
            reason != Reason::limit_exceeded) {  // the ledger's, not a validation rule
            out.emplace(reason_code(reason));
        }
    }
    return out;
}

// The JSON text of `value` exactly as written in the file (objects and arrays from their first
// to their last byte; scalars as their token).
std::string raw_text(od::value value) {
    od::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) {
        ADD_FAILURE() << "event: bad JSON";
        return {};
    }
    std::string_view text;
    simdjson::error_code error = simdjson::SUCCESS;
    if (type == od::json_type::object) {
        od::object object;
        error = value.get_object().get(object);
        if (!error) {
            error = object.raw_json().get(text);
        }
    } else if (type == od::json_type::array) {
        od::array array;
        error = value.get_array().get(array);
        if (!error) {
            error = array.raw_json().get(text);
        }
    } else {
        text = value.raw_json_token();
        while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' ||
                                 text.back() == '\r')) {
            text.remove_suffix(1);
        }
    }
    EXPECT_EQ(error, simdjson::SUCCESS) << simdjson::error_message(error);
    return std::string(text);
}

struct Vector {
    std::string name;
    std::string event;                                        // raw JSON text
    std::map<std::string, std::string, std::less<>> strings;  // canonical, payload_hash, reason
};

std::string get_string(od::value value, std::string_view what) {
    std::string_view text;
    const auto error = value.get_string().get(text);
    EXPECT_EQ(error, simdjson::SUCCESS) << what << " must be a string";
    return std::string(text);
}

// Reads one array of vectors; `fields`: the string fields each vector must have besides
// name and event.
std::vector<Vector> read_vectors(od::value value, const std::set<std::string>& fields) {
    std::vector<Vector> out;
    od::array array;
    EXPECT_EQ(value.get_array().get(array), simdjson::SUCCESS);
    for (auto item : array) {
        od::object object;
        EXPECT_EQ(item.get_object().get(object), simdjson::SUCCESS);
        Vector vector;
        bool has_event = false;
        for (auto field : object) {
            std::string_view key;
            EXPECT_EQ(field.unescaped_key().get(key), simdjson::SUCCESS);
            if (key == "name") {
                vector.name = get_string(field.value(), key);
            } else if (key == "event") {
                vector.event = raw_text(field.value());
                has_event = true;
            } else if (fields.count(std::string(key)) != 0) {
                vector.strings[std::string(key)] = get_string(field.value(), key);
            } else {
                ADD_FAILURE() << "unknown vector field " << key;
            }
        }
        EXPECT_FALSE(vector.name.empty());
        EXPECT_TRUE(has_event) << vector.name << ": no event";
        for (const auto& name : fields) {
            EXPECT_EQ(vector.strings.count(name), 1U) << vector.name << ": no " << name;
        }
        out.push_back(std::move(vector));
    }
    return out;
}

TEST(TestVectors, EveryVectorAgreesWithTheValidator) {
    simdjson::padded_string file;
    ASSERT_EQ(simdjson::padded_string::load(kVectorsPath).get(file), simdjson::SUCCESS)
        << kVectorsPath;
    od::parser parser;
    od::document doc;
    ASSERT_EQ(parser.iterate(file).get(doc), simdjson::SUCCESS);
    od::object root;
    ASSERT_EQ(doc.get_object().get(root), simdjson::SUCCESS);

    std::int64_t format = 0;
    std::string now_text, max_age_text, max_future_text;
    std::vector<Vector> valid, invalid;
    bool has_valid = false, has_invalid = false;
    for (auto field : root) {
        std::string_view key;
        ASSERT_EQ(field.unescaped_key().get(key), simdjson::SUCCESS);
        if (key == "format") {
            ASSERT_EQ(field.value().get_int64().get(format), simdjson::SUCCESS);
        } else if (key == "now") {
            now_text = get_string(field.value(), key);
        } else if (key == "max_event_age") {
            max_age_text = get_string(field.value(), key);
        } else if (key == "max_future") {
            max_future_text = get_string(field.value(), key);
        } else if (key == "valid") {
            valid = read_vectors(field.value(), {"canonical", "payload_hash"});
            has_valid = true;
        } else if (key == "invalid") {
            invalid = read_vectors(field.value(), {"reason"});
            has_invalid = true;
        } else {
            ADD_FAILURE() << "unknown top-level field " << key;
        }
    }
    ASSERT_FALSE(HasFailure()) << "the vectors file does not have the expected shape";
    ASSERT_EQ(format, 1);
    ASSERT_TRUE(has_valid && has_invalid);
    ASSERT_FALSE(valid.empty()) << "no valid vectors";
    ASSERT_FALSE(invalid.empty()) << "no invalid vectors";

    const auto now = parse_rfc3339(now_text);
    const auto max_age = parse_duration(max_age_text);
    const auto max_future = parse_duration(max_future_text);
    ASSERT_TRUE(now && max_age && max_future)
        << now_text << " " << max_age_text << " " << max_future_text;
    ValidationOptions options;
    options.max_event_age_us = *max_age;
    options.max_future_us = *max_future;
    EventValidator validator(options);

    std::set<std::string> names;
    for (const auto& vector : valid) {
        SCOPED_TRACE("valid vector \"" + vector.name + "\"");
        EXPECT_TRUE(names.insert(vector.name).second) << "duplicate name";
        auto event = validator.validate(vector.event, *now);
        ASSERT_TRUE(event) << reason_code(event.error().reason) << ": " << event.error().detail;
        std::string canonical;
        append_canonical_event(*event, canonical);
        EXPECT_EQ(canonical, vector.strings.at("canonical"));
        EXPECT_EQ(to_hex(payload_hash(*event)), vector.strings.at("payload_hash"));
        // The canonical form is itself a valid event with the same canonical form and hash.
        const std::string expected_hash = vector.strings.at("payload_hash");
        auto again = validator.validate(canonical, *now);
        ASSERT_TRUE(again) << again.error().detail;
        std::string canonical_again;
        append_canonical_event(*again, canonical_again);
        EXPECT_EQ(canonical_again, canonical);
        EXPECT_EQ(to_hex(payload_hash(*again)), expected_hash);
    }

    const auto known = sdk_reasons();
    std::set<std::string, std::less<>> seen;
    for (const auto& vector : invalid) {
        SCOPED_TRACE("invalid vector \"" + vector.name + "\"");
        EXPECT_TRUE(names.insert(vector.name).second) << "duplicate name";
        const auto& reason = vector.strings.at("reason");
        EXPECT_EQ(known.count(reason), 1U) << "not an SDK reason code: " << reason;
        seen.insert(reason);
        auto event = validator.validate(vector.event, *now);
        ASSERT_FALSE(event) << "valid, expected " << reason;
        EXPECT_EQ(reason_code(event.error().reason), reason) << event.error().detail;
    }
    EXPECT_EQ(seen, known) << "every SDK reason code has at least one vector";
}

}  // namespace
}  // namespace ul
