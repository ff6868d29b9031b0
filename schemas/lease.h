// Leases on concurrency meters (plans.h MeterPlan::concurrency): what an event of such a meter
// asks for, read from its properties. Shared by the ledger, which decides the operations
// (ledger/limits.h decide_leases), and the projection, which lists the leases held
// (projections/alerts, family leases). Pure.
//   - "lease_release": "<lease id>" (a string): a release of that lease (the lease id is the
//     idempotency key of the acquiring event);
//   - otherwise an acquire of `quantity` slots for "lease_ttl_ms" (a whole number, 1000 ms to
//     30 days; absent or out of range: kDefaultLeaseTtlUs) from the event's time.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "schemas/event.h"

namespace ul {

inline constexpr std::int64_t kDefaultLeaseTtlUs = 15LL * 60 * 1'000'000;
inline constexpr std::int64_t kMinLeaseTtlUs = 1'000'000;
inline constexpr std::int64_t kMaxLeaseTtlUs = 30LL * 24 * 3600 * 1'000'000;

// The released lease's id, or nullopt for an acquire.
std::optional<std::string_view> lease_release_of(const UsageEvent& event);
// The TTL an acquire asks for.
std::int64_t lease_ttl_us_of(const UsageEvent& event);

}  // namespace ul
