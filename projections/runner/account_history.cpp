#include "projections/runner/account_history.h"

#include <algorithm>

namespace ul {
namespace {

const BillingCalendar kUtcCalendar{};

}  // namespace

void AccountHistory::add(const std::string& tenant, std::int64_t effective_at_us,
                         const std::optional<Account>& account, std::string* warning) {
    Version version{effective_at_us, account, kUtcCalendar};
    if (account) {
        auto calendar = make_billing_calendar(account->billing_anchor_day, account->time_zone);
        if (calendar) {
            version.calendar = *calendar;
        } else if (warning != nullptr) {
            *warning = "account " + tenant + ": " + calendar.error() +
                       "; its months are calendar months in UTC";
        }
    }
    auto& versions = versions_[tenant];
    // Supersedes what earlier versions planned from its effective time on.
    const auto from =
        std::lower_bound(versions.begin(), versions.end(), effective_at_us,
                         [](const Version& held, std::int64_t time) { return held.from < time; });
    versions.erase(from, versions.end());
    versions.push_back(std::move(version));
}

AccountHistory AccountHistory::of(std::vector<AccountVersionRecord> records) {
    std::stable_sort(records.begin(), records.end(),
                     [](const AccountVersionRecord& left, const AccountVersionRecord& right) {
                         return left.updated_at_us < right.updated_at_us;
                     });
    AccountHistory history;
    for (const auto& record : records) {
        (void)history.add(record);
    }
    return history;
}

Result<bool, std::string> AccountHistory::add(const AccountVersionRecord& record) {
    if (record.json.empty()) {
        add(record.tenant, record.effective_at_us, std::nullopt);
        return true;
    }
    auto account = parse_account(record.json);
    if (!account) {
        return unexpected("account version of " + record.tenant + ": " + account.error());
    }
    add(record.tenant, record.effective_at_us, *account);
    return true;
}

AccountInForce AccountHistory::at(std::string_view tenant, std::int64_t time_us) const {
    const auto found = versions_.find(tenant);
    if (found == versions_.end() || found->second.empty()) {
        return {nullptr, kUtcCalendar};
    }
    const auto& versions = found->second;
    auto after =
        std::upper_bound(versions.begin(), versions.end(), time_us,
                         [](std::int64_t time, const Version& held) { return time < held.from; });
    const Version& version = after == versions.begin() ? versions.front() : *std::prev(after);
    return {version.account ? &*version.account : nullptr, version.calendar};
}

}  // namespace ul
