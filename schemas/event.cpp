#include "schemas/event.h"

#include <cstring>
#include <limits>
#include <utility>

#include "schemas/check.h"
#include "schemas/text.h"
#include "schemas/time.h"

namespace ul {
namespace {

namespace ondemand = simdjson::ondemand;

constexpr int kMaxDepth = 32;

enum Field : std::uint8_t {
    kIdempotencyKey,
    kTenantId,
    kSubject,
    kMeter,
    kQuantity,
    kTimestamp,
    kProperties,
    kFieldCount,
    kUnknown = 255,
};

constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "idempotency_key", "tenant_id", "subject", "meter", "quantity", "timestamp", "properties"};

Field field_of(std::string_view name) {
    for (std::size_t index = 0; index < kFieldNames.size(); ++index) {
        if (kFieldNames[index] == name) {
            return static_cast<Field>(index);
        }
    }
    return kUnknown;
}

bool is_json_whitespace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim_left(std::string_view text) {
    while (!text.empty() && is_json_whitespace(text.front())) {
        text.remove_prefix(1);
    }
    return text;
}

std::string_view trim_right(std::string_view text) {
    while (!text.empty() && is_json_whitespace(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view text) {
    std::size_t position = 0;
    auto digits = [&] {
        const std::size_t start = position;
        while (position < text.size() && text[position] >= '0' && text[position] <= '9') {
            ++position;
        }
        return position - start;
    };
    if (position < text.size() && text[position] == '-') {
        ++position;
    }
    const std::size_t integer_start = position;
    const std::size_t integer_digits = digits();
    if (integer_digits == 0 || (integer_digits > 1 && text[integer_start] == '0')) {
        return false;
    }
    if (position < text.size() && text[position] == '.') {
        ++position;
        if (digits() == 0) {
            return false;
        }
    }
    if (position < text.size() && (text[position] == 'e' || text[position] == 'E')) {
        ++position;
        if (position < text.size() && (text[position] == '+' || text[position] == '-')) {
            ++position;
        }
        if (digits() == 0) {
            return false;
        }
    }
    return position == text.size();
}

// Validates the syntax of a value we do not otherwise use (unknown fields, wrong types):
// On-Demand only checks what is visited.
bool walk(ondemand::value value, int depth) {
    if (depth > kMaxDepth) {
        return false;
    }
    ondemand::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) {
        return false;
    }
    switch (type) {
        case ondemand::json_type::object: {
            ondemand::object object;
            if (value.get_object().get(object) != simdjson::SUCCESS) {
                return false;
            }
            for (auto field : object) {
                std::string_view key;
                if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
                    return false;
                }
                ondemand::value inner;
                if (field.value().get(inner) != simdjson::SUCCESS || !walk(inner, depth + 1)) {
                    return false;
                }
            }
            return true;
        }
        case ondemand::json_type::array: {
            ondemand::array array;
            if (value.get_array().get(array) != simdjson::SUCCESS) {
                return false;
            }
            for (auto element : array) {
                ondemand::value inner;
                if (element.get(inner) != simdjson::SUCCESS || !walk(inner, depth + 1)) {
                    return false;
                }
            }
            return true;
        }
        case ondemand::json_type::string: {
            std::string_view text;
            return value.get_string().get(text) == simdjson::SUCCESS;
        }
        case ondemand::json_type::number:
            return is_json_number(trim_right(value.raw_json_token()));
        case ondemand::json_type::boolean: {
            bool flag = false;
            return value.get_bool().get(flag) == simdjson::SUCCESS;
        }
        case ondemand::json_type::null: {
            bool null = false;
            return value.is_null().get(null) == simdjson::SUCCESS && null;
        }
    }
    return false;
}

// True when nothing but whitespace follows what was consumed (simdjson 3.0 has no at_end()).
bool at_document_end(ondemand::document& document) {
    const char* location = nullptr;
    return document.current_location().get(location) != simdjson::SUCCESS;
}

// The syntax of a document whose root is not an object (on the way to not_object). A root
// scalar must be the whole message: its one token, with nothing but whitespace around it.
bool root_is_valid_json(ondemand::document& document, ondemand::json_type type,
                        std::string_view message) {
    if (type == ondemand::json_type::array) {
        ondemand::array array;
        if (document.get_array().get(array) != simdjson::SUCCESS) {
            return false;
        }
        for (auto element : array) {
            ondemand::value inner;
            if (element.get(inner) != simdjson::SUCCESS || !walk(inner, 1)) {
                return false;
            }
        }
        return at_document_end(document);
    }
    std::string_view token;
    if (document.raw_json_token().get(token) != simdjson::SUCCESS) {
        return false;
    }
    token = trim_right(token);
    if (token != trim_right(trim_left(message))) {
        return false;  // trailing content after the scalar
    }
    switch (type) {
        case ondemand::json_type::string: {
            std::string_view text;
            return document.get_string().get(text) == simdjson::SUCCESS;
        }
        case ondemand::json_type::number:
            return is_json_number(token);
        case ondemand::json_type::boolean:
            return token == "true" || token == "false";
        case ondemand::json_type::null:
            return token == "null";
        default:
            return false;
    }
}

// No C0 controls, DEL or C1 controls (U+0080–U+009F); the bytes are already valid UTF-8.
bool is_printable(std::string_view text) {
    for (std::size_t index = 0; index < text.size(); ++index) {
        const auto byte = static_cast<unsigned char>(text[index]);
        if (byte < 0x20 || byte == 0x7F) {
            return false;
        }
        if (byte == 0xC2 && index + 1 < text.size()) {
            const auto next = static_cast<unsigned char>(text[index + 1]);
            if (next >= 0x80 && next <= 0x9F) {
                return false;
            }
        }
    }
    return true;
}

bool is_tenant_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

bool is_meter_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

// A raw control byte is never legal in a one-line JSON message (tab and CR only as whitespace).
bool has_raw_control(std::string_view message) {
    for (const char c : message) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 && c != '\t' && c != '\r' && c != '\n') {
            return true;
        }
    }
    return false;
}

// What one pass over the object collected, before any field rule is applied.
struct Collected {
    std::array<bool, kFieldCount> present{};
    std::array<bool, kFieldCount> wrong_type{};
    std::array<std::string_view, kFieldCount> text{};  // string value or raw number token
    bool quantity_is_number = false;
    bool properties_null = false;
    bool subject_null = false;
    std::string_view first_unknown;
    std::string_view properties_problem;  // first rule the properties object breaks
    std::string_view duplicate_property;
    std::string_view bad_property_key;
    bool has_bad_property_key = false;
    std::size_t property_fields = 0;
    std::size_t properties_bytes = 0;  // raw JSON text of the object, as written
};

std::int64_t saturating_add(std::int64_t left, std::int64_t right) {
    std::int64_t sum = 0;
    if (__builtin_add_overflow(left, right, &sum)) {
        return right > 0 ? std::numeric_limits<std::int64_t>::max()
                         : std::numeric_limits<std::int64_t>::min();
    }
    return sum;
}

// A window in the grammar parse_duration reads ("35d", "5m"), or in microseconds if uneven.
std::string describe_duration(std::int64_t micros) {
    constexpr std::array<std::pair<std::int64_t, char>, 4> kUnits = {
        {{86'400'000'000LL, 'd'}, {3'600'000'000LL, 'h'}, {60'000'000LL, 'm'}, {1'000'000LL, 's'}}};
    for (const auto& [unit_us, unit] : kUnits) {
        if (micros > 0 && micros % unit_us == 0) {
            return std::to_string(micros / unit_us) + unit;
        }
    }
    return std::to_string(micros) + " us";
}

ValidationError error(Reason reason, std::string detail) {
    return ValidationError{reason, std::move(detail)};
}

std::string quoted(std::string_view text) {
    std::string out = "\"";
    const std::string_view shown = utf8_prefix(text, 64);
    out.append(shown);
    if (shown.size() < text.size()) {
        out += "…";
    }
    out += '"';
    return out;
}

}  // namespace

std::string_view reason_code(Reason reason) {
    static constexpr std::array<std::string_view, kReasonCount> kCodes = {
        "too_large",     "bad_utf8",      "malformed_json", "not_object",    "unknown_field",
        "missing_field", "bad_key",       "bad_tenant",     "bad_subject",   "bad_meter",
        "bad_quantity",  "bad_timestamp", "bad_properties", "limit_exceeded"};
    const auto index = static_cast<std::size_t>(reason);
    return index < kCodes.size() ? kCodes[index] : "unknown";
}

EventValidator::EventValidator(ValidationOptions options) : options_(options) {
    UL_CHECK(options_.max_event_age_us >= 0 && options_.max_future_us >= 0,
             "validation windows must not be negative");
    // Large enough for the largest valid message; bigger ones are rejected before parsing.
    const auto allocated = parser_.allocate(kMaxEventBytes + simdjson::SIMDJSON_PADDING);
    UL_CHECK(allocated == simdjson::SUCCESS, "cannot allocate the JSON parser");
    unknown_keys_.reserve(16);
}

Result<UsageEvent, ValidationError> EventValidator::validate(std::string_view message,
                                                             std::int64_t now_us) {
    return validate(message, message.size(), now_us);
}

Result<UsageEvent, ValidationError> EventValidator::validate(std::string_view message,
                                                             std::size_t readable,
                                                             std::int64_t now_us) {
    if (message.size() > kMaxEventBytes) {
        return unexpected(error(Reason::too_large, "message is " + std::to_string(message.size()) +
                                                       " bytes (at most " +
                                                       std::to_string(kMaxEventBytes) + ")"));
    }
    if (!simdjson::validate_utf8(message.data(), message.size())) {
        return unexpected(error(Reason::bad_utf8, "message is not valid UTF-8"));
    }
    if (has_raw_control(message)) {
        return unexpected(error(Reason::malformed_json, "raw control character in the message"));
    }
    const char* data = message.data();
    std::size_t capacity = readable;
    if (readable < message.size() + simdjson::SIMDJSON_PADDING) {
        if (padded_.size() < message.size() + simdjson::SIMDJSON_PADDING) {
            padded_.resize(message.size() + simdjson::SIMDJSON_PADDING);
        }
        if (!message.empty()) {  // a Kafka NULL value has no data pointer at all
            std::memcpy(padded_.data(), message.data(), message.size());
        }
        std::memset(padded_.data() + message.size(), ' ', simdjson::SIMDJSON_PADDING);
        data = padded_.data();
        capacity = padded_.size();
    }
    auto malformed = [](std::string detail) {
        return unexpected(error(Reason::malformed_json, std::move(detail)));
    };

    auto not_json = [](simdjson::error_code code) {
        return unexpected(error(Reason::malformed_json,
                                std::string("not JSON: ") + simdjson::error_message(code)));
    };

    ondemand::document document;
    if (const auto code = parser_.iterate(data, message.size(), capacity).get(document);
        code != simdjson::SUCCESS) {
        return not_json(code);
    }
    ondemand::json_type top_type;
    if (const auto code = document.type().get(top_type); code != simdjson::SUCCESS) {
        return not_json(code);
    }
    if (top_type != ondemand::json_type::object) {
        // Malformed input wins over "not an object": check the syntax of what is there.
        if (!root_is_valid_json(document, top_type, message)) {
            return malformed("not JSON (the root value is malformed or followed by more)");
        }
        return unexpected(error(Reason::not_object, "the message is not a JSON object"));
    }

    ondemand::object object;
    if (const auto code = document.get_object().get(object); code != simdjson::SUCCESS) {
        return not_json(code);
    }
    Collected collected;
    UsageEvent event;
    unknown_keys_.clear();
    for (auto field : object) {
        std::string_view key;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
            return malformed(
                "expected a key or the end of the object (a syntax error, or an "
                "invalid escape in a key)");
        }
        ondemand::value value;
        if (field.value().get(value) != simdjson::SUCCESS) {
            return malformed("bad value of " + quoted(key));
        }
        const Field which = field_of(key);
        if (which == kUnknown) {
            for (const auto seen : unknown_keys_) {
                if (seen == key) {
                    return malformed("duplicate key " + quoted(key));
                }
            }
            unknown_keys_.push_back(key);
            if (collected.first_unknown.empty()) {
                collected.first_unknown = key;
            }
            if (!walk(value, 1)) {
                return malformed("bad value of " + quoted(key));
            }
            continue;
        }
        if (collected.present[which]) {
            return malformed("duplicate key " + quoted(key));
        }
        collected.present[which] = true;
        ondemand::json_type type;
        if (value.type().get(type) != simdjson::SUCCESS) {
            return malformed("bad value of " + quoted(key));
        }
        if (which == kProperties && type == ondemand::json_type::object) {
            // The raw JSON text of the object runs from its '{' to the token after its '}'.
            const char* properties_start = value.raw_json_token().data();
            ondemand::object properties;
            if (value.get_object().get(properties) != simdjson::SUCCESS) {
                return malformed("bad value of \"properties\"");
            }
            for (auto property : properties) {
                std::string_view property_key;
                ondemand::value property_value;
                if (property.unescaped_key().get(property_key) != simdjson::SUCCESS ||
                    property.value().get(property_value) != simdjson::SUCCESS) {
                    return malformed("bad property in \"properties\"");
                }
                ondemand::json_type property_type;
                if (property_value.type().get(property_type) != simdjson::SUCCESS) {
                    return malformed("bad property in \"properties\"");
                }
                Property parsed;
                parsed.key = property_key;
                bool allowed_type = true;
                if (property_type == ondemand::json_type::string) {
                    if (property_value.get_string().get(parsed.value) != simdjson::SUCCESS) {
                        return malformed("bad string in \"properties\"");
                    }
                } else if (property_type == ondemand::json_type::number) {
                    parsed.value = trim_right(property_value.raw_json_token());
                    parsed.kind = PropertyKind::number;
                    if (!is_json_number(parsed.value)) {
                        return malformed("bad number in \"properties\"");
                    }
                } else if (property_type == ondemand::json_type::boolean) {
                    bool flag = false;
                    if (property_value.get_bool().get(flag) != simdjson::SUCCESS) {
                        return malformed("bad value in \"properties\"");
                    }
                    parsed.value = flag ? "true" : "false";
                    parsed.kind = PropertyKind::boolean;
                } else {
                    allowed_type = false;
                    if (!walk(property_value, 2)) {
                        return malformed("bad value in \"properties\"");
                    }
                }
                ++collected.property_fields;
                if (!allowed_type && collected.properties_problem.empty()) {
                    collected.properties_problem = property_key;
                }
                if (property_key.empty() || property_key.size() > kMaxPropertyKeyBytes ||
                    !is_printable(property_key)) {
                    if (!collected.has_bad_property_key) {
                        collected.has_bad_property_key = true;
                        collected.bad_property_key = property_key;
                    }
                }
                for (std::size_t index = 0; index < event.property_count; ++index) {
                    if (event.properties[index].key == property_key &&
                        collected.duplicate_property.empty()) {
                        collected.duplicate_property = property_key;
                    }
                }
                if (event.property_count < kMaxProperties) {
                    event.properties[event.property_count++] = parsed;
                }
            }
            const char* after_properties = nullptr;
            if (document.current_location().get(after_properties) != simdjson::SUCCESS) {
                return malformed("the object is not closed");
            }
            collected.properties_bytes =
                trim_right(
                    std::string_view(properties_start,
                                     static_cast<std::size_t>(after_properties - properties_start)))
                    .size();
            continue;
        }
        if (which == kProperties && type == ondemand::json_type::null) {
            collected.properties_null = true;
            continue;
        }
        if (which == kSubject && type == ondemand::json_type::null) {
            collected.subject_null = true;
            continue;
        }
        if (type == ondemand::json_type::string && which != kProperties) {
            if (value.get_string().get(collected.text[which]) != simdjson::SUCCESS) {
                return malformed("bad string value of " + quoted(key) +
                                 " (invalid escape or lone surrogate)");
            }
            continue;
        }
        if (type == ondemand::json_type::number && which == kQuantity) {
            collected.text[which] = trim_right(value.raw_json_token());
            collected.quantity_is_number = true;
            if (!is_json_number(collected.text[which])) {
                return malformed("bad number for \"quantity\"");
            }
            continue;
        }
        collected.wrong_type[which] = true;
        if (!walk(value, 1)) {
            return malformed("bad value of " + quoted(key));
        }
    }
    if (!at_document_end(document)) {
        return malformed("trailing content after the object");
    }

    // The field rules, in the fixed order.
    if (options_.strict && !collected.first_unknown.empty()) {
        return unexpected(error(
            Reason::unknown_field,
            "unknown field " + quoted(collected.first_unknown) + " (strict mode; see --lenient)"));
    }
    for (const Field required : {kIdempotencyKey, kTenantId, kMeter, kQuantity, kTimestamp}) {
        if (!collected.present[required]) {
            return unexpected(error(Reason::missing_field,
                                    "missing required field " + quoted(kFieldNames[required])));
        }
    }
    const std::string_view key = collected.text[kIdempotencyKey];
    if (collected.wrong_type[kIdempotencyKey]) {
        return unexpected(error(Reason::bad_key, "idempotency_key must be a string"));
    }
    if (key.empty() || key.size() > kMaxKeyBytes || !is_printable(key)) {
        return unexpected(
            error(Reason::bad_key, "idempotency_key must be 1-128 bytes of printable UTF-8 (got " +
                                       std::to_string(key.size()) + " bytes)"));
    }
    event.idempotency_key = key;

    const std::string_view tenant = collected.text[kTenantId];
    bool tenant_ok =
        !collected.wrong_type[kTenantId] && !tenant.empty() && tenant.size() <= kMaxTenantBytes;
    for (const char c : tenant) {
        tenant_ok = tenant_ok && is_tenant_char(c);
    }
    if (!tenant_ok) {
        return unexpected(error(
            Reason::bad_tenant,
            "tenant_id must be 1-64 characters of [A-Za-z0-9._:-], got " +
                (collected.wrong_type[kTenantId] ? std::string("a non-string") : quoted(tenant))));
    }
    event.tenant_id = tenant;

    if (collected.present[kSubject] && !collected.subject_null) {
        const std::string_view subject = collected.text[kSubject];
        if (collected.wrong_type[kSubject] || subject.size() > kMaxSubjectBytes ||
            !is_printable(subject)) {
            return unexpected(error(Reason::bad_subject,
                                    "subject must be a string of at most 128 bytes of printable "
                                    "UTF-8"));
        }
        event.subject = subject;
        event.has_subject = true;
    }

    const std::string_view meter = collected.text[kMeter];
    bool meter_ok =
        !collected.wrong_type[kMeter] && !meter.empty() && meter.size() <= kMaxMeterBytes;
    for (const char c : meter) {
        meter_ok = meter_ok && is_meter_char(c);
    }
    if (!meter_ok) {
        return unexpected(error(
            Reason::bad_meter,
            "meter must be 1-64 characters of [a-z0-9_.-], got " +
                (collected.wrong_type[kMeter] ? std::string("a non-string") : quoted(meter))));
    }
    event.meter = meter;

    if (collected.wrong_type[kQuantity]) {
        return unexpected(
            error(Reason::bad_quantity, "quantity must be a JSON number or a decimal string"));
    }
    auto quantity = Decimal::parse_quantity(collected.text[kQuantity]);
    if (!quantity) {
        return unexpected(error(Reason::bad_quantity,
                                "quantity " + quoted(collected.text[kQuantity]) + ": " +
                                    std::string(decimal_error_text(quantity.error())) +
                                    " (a decimal >= 0 and <= 10^12, at most 6 fraction digits)"));
    }
    event.quantity = *quantity;

    if (collected.wrong_type[kTimestamp]) {
        return unexpected(error(Reason::bad_timestamp, "timestamp must be an RFC 3339 string"));
    }
    auto timestamp = parse_rfc3339(collected.text[kTimestamp]);
    if (!timestamp) {
        return unexpected(error(Reason::bad_timestamp, timestamp.error()));
    }
    if (*timestamp > saturating_add(now_us, options_.max_future_us)) {
        return unexpected(error(Reason::bad_timestamp,
                                "timestamp " + quoted(collected.text[kTimestamp]) +
                                    " is more than " + describe_duration(options_.max_future_us) +
                                    " in the future"));
    }
    if (*timestamp < saturating_add(now_us, -options_.max_event_age_us)) {
        return unexpected(
            error(Reason::bad_timestamp, "timestamp " + quoted(collected.text[kTimestamp]) +
                                             " is older than the late-arrival limit of " +
                                             describe_duration(options_.max_event_age_us) +
                                             " (--max-event-age)"));
    }
    event.timestamp_us = *timestamp;

    if (collected.present[kProperties] && !collected.properties_null) {
        auto bad = [](std::string detail) {
            return unexpected(error(Reason::bad_properties, std::move(detail)));
        };
        if (collected.wrong_type[kProperties]) {
            return bad("properties must be a flat JSON object");
        }
        if (collected.property_fields > kMaxProperties) {
            return bad("properties has " + std::to_string(collected.property_fields) +
                       " keys (at most 16)");
        }
        if (!collected.properties_problem.empty()) {
            return bad("property " + quoted(collected.properties_problem) +
                       " must be a string, number or boolean");
        }
        if (!collected.duplicate_property.empty()) {
            return bad("duplicate property " + quoted(collected.duplicate_property));
        }
        if (collected.has_bad_property_key) {
            return bad("property key " + quoted(collected.bad_property_key) +
                       " must be 1-64 bytes of printable UTF-8");
        }
        if (collected.properties_bytes > kMaxPropertiesBytes) {
            return bad("properties is " + std::to_string(collected.properties_bytes) +
                       " bytes of JSON (at most 4096)");
        }
    } else {
        event.property_count = 0;
    }
    return event;
}

}  // namespace ul
