// The usage event contract (DESIGN.md, "The event"): parse one message with simdjson On-Demand
// and validate it by every rule, in a fixed order; the first rule broken gives the reason code.
// EventValidator is reusable and allocation-free on the success path; not thread-safe (one per
// thread). A UsageEvent's views point into the validator or the message and stay valid until
// the validator's next call.
#pragma once

#include <simdjson.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/decimal.h"
#include "schemas/result.h"

namespace ul {

// In the order the rules are checked.
enum class Reason : std::uint8_t {
    too_large,
    bad_utf8,
    malformed_json,
    not_object,
    unknown_field,
    missing_field,
    bad_key,
    bad_tenant,
    bad_subject,
    bad_meter,
    bad_quantity,
    bad_timestamp,
    bad_properties,
    // Not a validation rule: the ledger's hard limit refused a valid event (ledger/limits.h).
    // Used for its dead letter and counts; the validator never gives it.
    limit_exceeded,
};
inline constexpr std::size_t kReasonCount = 14;
std::string_view reason_code(Reason reason);

inline constexpr std::size_t kMaxEventBytes = std::size_t{16} * 1024;
inline constexpr std::size_t kMaxKeyBytes = 128;
inline constexpr std::size_t kMaxTenantBytes = 64;
inline constexpr std::size_t kMaxSubjectBytes = 128;
inline constexpr std::size_t kMaxMeterBytes = 64;
inline constexpr std::size_t kMaxProperties = 16;
inline constexpr std::size_t kMaxPropertyKeyBytes = 64;
inline constexpr std::size_t kMaxPropertiesBytes = 4096;

struct ValidationOptions {
    bool strict = true;  // unknown top-level fields are invalid (unknown_field)
    std::int64_t max_event_age_us = 35LL * 24 * 3600 * 1'000'000;
    std::int64_t max_future_us = 5LL * 60 * 1'000'000;
};

struct ValidationError {
    Reason reason;
    std::string detail;  // one human line
};

enum class PropertyKind : std::uint8_t { string, number, boolean };

struct Property {
    std::string_view key;
    std::string_view value;  // unescaped string, raw number token, or "true" / "false"
    PropertyKind kind = PropertyKind::string;
};

struct UsageEvent {
    std::string_view idempotency_key;
    std::string_view tenant_id;
    std::string_view meter;
    std::string_view subject;
    bool has_subject = false;
    Decimal quantity;
    std::int64_t timestamp_us = 0;
    std::array<Property, kMaxProperties> properties{};
    std::size_t property_count = 0;
};

class EventValidator {
  public:
    explicit EventValidator(ValidationOptions options = {});

    Result<UsageEvent, ValidationError> validate(std::string_view message, std::int64_t now_us);
    // Zero-copy when `readable` (bytes readable from message.data()) leaves simdjson's padding.
    Result<UsageEvent, ValidationError> validate(std::string_view message, std::size_t readable,
                                                 std::int64_t now_us);

    const ValidationOptions& options() const { return options_; }

  private:
    ValidationOptions options_;
    simdjson::ondemand::parser parser_;
    std::vector<char> padded_;  // a copy of the message when it lacks padding
    std::vector<std::string_view> unknown_keys_;
};

}  // namespace ul
