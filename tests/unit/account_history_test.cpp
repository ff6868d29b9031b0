// AccountHistory: the account version in force at an event time (projections/runner).
#include "projections/runner/account_history.h"

#include <gtest/gtest.h>

#include "schemas/time.h"

namespace {

std::int64_t at(const char* text) {
    return *ul::parse_rfc3339(text);
}

ul::Account account(int anchor, const char* zone, std::int64_t updated) {
    ul::Account made;
    made.tenant_id = "acme";
    made.plan = "pro";
    made.billing_anchor_day = anchor;
    made.time_zone = zone;
    made.updated_at_us = updated;
    return made;
}

int anchor_at(const ul::AccountHistory& history, const char* time) {
    const auto held = history.at("acme", at(time));
    return held.account == nullptr ? 0 : held.account->billing_anchor_day;
}

TEST(AccountHistory, ATenantWithoutAccountHasUtcCalendarMonths) {
    const ul::AccountHistory history;
    const auto held = history.at("nobody", at("2026-03-01T00:00:00Z"));
    EXPECT_EQ(held.account, nullptr);
    EXPECT_EQ(held.calendar.anchor_day, 1);
    EXPECT_EQ(held.calendar.zone, nullptr);
}

TEST(AccountHistory, TheVersionInForceAtTheEventTimeAndTheFirstCoversEverythingBefore) {
    ul::AccountHistory history;
    history.add("acme", at("2026-01-01T00:00:00Z"), account(1, "", 1));
    history.add("acme", at("2026-03-10T12:00:00Z"), account(15, "America/New_York", 2));
    EXPECT_EQ(anchor_at(history, "2025-06-01T00:00:00Z"), 1);  // before the first: the first
    EXPECT_EQ(anchor_at(history, "2026-03-10T11:59:59Z"), 1);
    EXPECT_EQ(anchor_at(history, "2026-03-10T12:00:00Z"), 15);
    EXPECT_EQ(anchor_at(history, "2030-01-01T00:00:00Z"), 15);
    EXPECT_NE(history.at("acme", at("2026-03-10T12:00:00Z")).calendar.zone, nullptr);
}

TEST(AccountHistory, ALaterVersionSupersedesWhatWasPlannedFromItsTimeOn) {
    ul::AccountHistory history;
    history.add("acme", at("2026-01-01T00:00:00Z"), account(1, "", 1));
    history.add("acme", at("2026-06-01T00:00:00Z"), account(5, "", 2));
    // Made later, effective earlier: the June version is gone.
    history.add("acme", at("2026-03-01T00:00:00Z"), account(20, "", 3));
    EXPECT_EQ(anchor_at(history, "2026-02-01T00:00:00Z"), 1);
    EXPECT_EQ(anchor_at(history, "2026-07-01T00:00:00Z"), 20);
}

TEST(AccountHistory, ADeletionPlacesLaterUsageInUtcMonths) {
    ul::AccountHistory history;
    history.add("acme", at("2026-01-01T00:00:00Z"), account(15, "Europe/Paris", 1));
    history.add("acme", at("2026-05-01T00:00:00Z"), std::nullopt);
    EXPECT_EQ(anchor_at(history, "2026-04-30T00:00:00Z"), 15);
    const auto after = history.at("acme", at("2026-05-02T00:00:00Z"));
    EXPECT_EQ(after.account, nullptr);
    EXPECT_EQ(after.calendar.anchor_day, 1);
}

TEST(AccountHistory, StoredRecordsAreAddedInTheOrderTheyWereMade) {
    const std::string first = ul::account_json(account(1, "", 10));
    const std::string second = ul::account_json(account(20, "", 20));
    // Listed by effective time (as stored), made in the other order.
    const auto history = ul::AccountHistory::of({
        {"acme", at("2026-03-01T00:00:00Z"), second, 20},
        {"acme", at("2026-06-01T00:00:00Z"), first, 10},
    });
    EXPECT_EQ(anchor_at(history, "2026-07-01T00:00:00Z"), 20);  // the later one superseded
}

TEST(AccountHistory, AnUnknownZonePlacesMonthsInUtcAndSaysSo) {
    ul::AccountHistory history;
    std::string warning;
    history.add("acme", 0, account(3, "Mars/Olympus", 1), &warning);
    EXPECT_NE(warning.find("Mars/Olympus"), std::string::npos) << warning;
    EXPECT_EQ(history.at("acme", 0).calendar.zone, nullptr);
}

}  // namespace
