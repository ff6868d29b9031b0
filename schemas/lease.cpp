#include "schemas/lease.h"

namespace ul {

std::optional<std::string_view> lease_release_of(const UsageEvent& event) {
    for (std::size_t index = 0; index < event.property_count; ++index) {
        const Property& property = event.properties[index];
        if (property.key == "lease_release" && property.kind == PropertyKind::string) {
            return property.value;
        }
    }
    return std::nullopt;
}

std::int64_t lease_ttl_us_of(const UsageEvent& event) {
    for (std::size_t index = 0; index < event.property_count; ++index) {
        const Property& property = event.properties[index];
        if (property.key != "lease_ttl_ms" || property.kind != PropertyKind::number) {
            continue;
        }
        // A whole number of 1..10 digits (30 days in ms has 10): no sign, point or exponent.
        if (property.value.empty() || property.value.size() > 10) {
            return kDefaultLeaseTtlUs;
        }
        std::int64_t ms = 0;
        for (const char c : property.value) {
            if (c < '0' || c > '9') {
                return kDefaultLeaseTtlUs;
            }
            ms = ms * 10 + (c - '0');
        }
        const std::int64_t us = ms * 1000;
        return us >= kMinLeaseTtlUs && us <= kMaxLeaseTtlUs ? us : kDefaultLeaseTtlUs;
    }
    return kDefaultLeaseTtlUs;
}

}  // namespace ul
