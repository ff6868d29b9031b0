// AccountHistory: every version of each tenant's account, by the time from which it is in force,
// so an entry is placed with the version in force at its *event time* — not the one held when
// it happens to be applied. Live, replay and reconcile then agree whatever the arrival order, and
// a change of billing anchor or time zone never moves usage counted before its effective time.
// A version is in force from Account::effective_from() (effective_at, else updated_at) until the
// next version's; the first version of a tenant also covers every time before it (usage that
// predates the account is placed with its first calendar); a deletion is a version with no
// account (calendar months in UTC) from its deleted_at. Versions with the same effective time:
// the one added last wins (the projection adds them in updated_at order).
// Pure; not thread-safe (one per consuming thread, or shared read-only).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "projections/runner/reducer.h"
#include "schemas/account.h"
#include "schemas/result.h"

namespace ul {

// One stored version: tenant, from when, and the account JSON (empty: deleted).
struct AccountVersionRecord {
    std::string tenant;
    std::int64_t effective_at_us = 0;
    std::string json;
    friend bool operator==(const AccountVersionRecord&, const AccountVersionRecord&) = default;
};

class AccountHistory {
  public:
    // A version from `effective_at_us`; nullopt: the account was deleted then. A version whose
    // calendar cannot be made (an unknown zone) places months in UTC and says so in `warning`.
    void add(const std::string& tenant, std::int64_t effective_at_us,
             const std::optional<Account>& account, std::string* warning = nullptr);
    // A stored record (AccountVersionRecord); an error when its JSON is not an account.
    Result<bool, std::string> add(const AccountVersionRecord& record);
    // The version in force for `tenant` at `time_us`.
    AccountInForce at(std::string_view tenant, std::int64_t time_us) const;
    bool empty() const { return versions_.empty(); }
    std::size_t tenants() const { return versions_.size(); }

  private:
    struct Version {
        std::int64_t from = 0;
        std::optional<Account> account;
        BillingCalendar calendar;
    };
    std::map<std::string, std::vector<Version>, std::less<>> versions_;  // sorted by `from`
};

}  // namespace ul
