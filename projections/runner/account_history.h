// AccountHistory: every version of each tenant's account, by the time from which it is in force,
// so an entry is placed with the version in force at its *event time* — not the one held when
// it happens to be applied. Live, replay and reconcile then agree whatever the arrival order, and
// a change of billing anchor or time zone never moves usage counted before its effective time.
// Versions are added in the order they were made (updated_at; the projection refuses older
// records). A version is in force from Account::effective_from() (effective_at, else updated_at)
// on, and supersedes every earlier-made version from that time on: setting an account "from E"
// replaces whatever was planned from E. The first version of a tenant also covers every time
// before it (usage that predates the account is placed with its first calendar). A deletion is a
// version with no account (calendar months in UTC) from its deleted_at.
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

// One stored version: tenant, from when, when it was made, and the account JSON (empty:
// deleted).
struct AccountVersionRecord {
    std::string tenant;
    std::int64_t effective_at_us = 0;
    std::string json;
    std::int64_t updated_at_us = 0;
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
    // The history of stored records, added in the order they were made (updated_at). Records
    // whose JSON is not an account are passed over (the live projection refused them too).
    static AccountHistory of(std::vector<AccountVersionRecord> records);
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
    std::map<std::string, std::vector<Version>, std::less<>> versions_;  // by `from`, ascending
};

}  // namespace ul
