// Leases on concurrency meters, pure: the ledger's decision over a batch (ledger/limits.h
// decide_leases), what an event asks for (schemas/lease.h), the plans' "kind", and the
// projection's lease rows (projections/alerts/alerts_reducer.h apply_lease_entry).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ledger/limits.h"
#include "projections/alerts/alerts_reducer.h"
#include "projections/runner/limit_policy.h"
#include "schemas/lease.h"
#include "schemas/plans.h"

namespace ul {
namespace {

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kSlot = 1'000'000;

Decision accepted() {
    return Decision{Verdict::accepted, Reason::malformed_json, kDecidedByStore};
}

LeaseCheck acquire(std::uint32_t candidate, std::uint64_t lease, std::int64_t at_s,
                   std::int64_t ttl_s, std::int64_t slots = 1) {
    return LeaseCheck{candidate, 0,
                      LeaseOp{false, DedupKey{lease, lease}, (at_s + ttl_s) * kSecond},
                      at_s * kSecond, slots * kSlot};
}
LeaseCheck release(std::uint32_t candidate, std::uint64_t lease, std::int64_t at_s) {
    return LeaseCheck{candidate, 0, LeaseOp{true, DedupKey{lease, lease}, 0}, at_s * kSecond, 0};
}

TEST(Leases, WithOneSlotTheSecondAcquireIsRefusedUntilTheFirstIsReleased) {
    std::vector<LeaseCell> cells = {LeaseCell{{}, 1 * kSlot}};
    const std::vector<LeaseCheck> checks = {acquire(0, 1, 100, 60), acquire(1, 2, 101, 60),
                                            release(2, 1, 102), acquire(3, 3, 103, 60),
                                            release(4, 9, 104)};
    std::vector<Decision> decisions(checks.size(), accepted());
    std::vector<LeaseResult> results(checks.size());
    decide_leases(checks, cells, decisions, results);
    EXPECT_EQ(decisions[0].verdict, Verdict::accepted);
    EXPECT_EQ(results[0].expires_us, 160 * kSecond);
    EXPECT_EQ(results[0].held_micros, 1 * kSlot);
    EXPECT_EQ(decisions[1].verdict, Verdict::rejected_limit);
    EXPECT_EQ(decisions[1].reason, Reason::limit_exceeded);
    EXPECT_EQ(results[1].expires_us, 160 * kSecond);  // when the held lease frees its slot
    EXPECT_EQ(decisions[2].verdict, Verdict::accepted);
    EXPECT_TRUE(results[2].released);
    EXPECT_EQ(results[2].held_micros, 0);
    EXPECT_EQ(decisions[3].verdict, Verdict::accepted);
    EXPECT_EQ(decisions[4].verdict, Verdict::accepted);  // a release is an entry whatever it finds
    EXPECT_FALSE(results[4].released);
    ASSERT_EQ(cells[0].held.size(), 1U);
    EXPECT_EQ(cells[0].held[0].lease, (DedupKey{3, 3}));
}

TEST(Leases, ALeaseIsFreeOnceAnEventPastItsExpiryIsDecided) {
    std::vector<LeaseCell> cells = {LeaseCell{{}, 2 * kSlot}};
    const std::vector<LeaseCheck> checks = {acquire(0, 1, 100, 10, 2), acquire(1, 2, 109, 10),
                                            acquire(2, 3, 110, 10, 2), acquire(3, 4, 111, 10)};
    std::vector<Decision> decisions(checks.size(), accepted());
    std::vector<LeaseResult> results(checks.size());
    decide_leases(checks, cells, decisions, results);
    EXPECT_EQ(decisions[0].verdict, Verdict::accepted);
    EXPECT_EQ(decisions[1].verdict, Verdict::rejected_limit);  // 109 < 110: both slots held
    EXPECT_EQ(decisions[2].verdict, Verdict::accepted);        // 110: the first one expired
    EXPECT_EQ(decisions[3].verdict, Verdict::rejected_limit);
    EXPECT_EQ(results[3].held_micros, 2 * kSlot);
}

TEST(Leases, OnlyAcceptedOperationsChangeTheCell) {
    std::vector<LeaseCell> cells = {
        LeaseCell{{LeaseRecord{DedupKey{1, 1}, 500 * kSecond, kSlot}}, 1 * kSlot}};
    const std::vector<LeaseCheck> checks = {release(0, 1, 100), acquire(1, 2, 600, 10)};
    std::vector<Decision> decisions = {Decision{Verdict::duplicate, Reason::malformed_json, 0},
                                       Decision{Verdict::invalid, Reason::bad_meter, 0}};
    std::vector<LeaseResult> results(checks.size());
    decide_leases(checks, cells, decisions, results);
    EXPECT_EQ(decisions[0].verdict, Verdict::duplicate);
    EXPECT_FALSE(results[0].released);
    EXPECT_EQ(decisions[1].verdict, Verdict::invalid);
    EXPECT_EQ(cells[0].held.size(), 1U);  // nothing dropped, not even the expired one
}

TEST(Leases, TheCellEncodingRoundTripsAndRefusesDamage) {
    const std::vector<LeaseRecord> held = {LeaseRecord{DedupKey{1, 2}, 3, 4},
                                           LeaseRecord{DedupKey{~0ULL, 5}, -7, 1'000'000}};
    const std::string encoded = encode_lease_cell(held);
    EXPECT_EQ(encoded.size(), 64U);
    EXPECT_EQ(decode_lease_cell(encoded), held);
    EXPECT_FALSE(decode_lease_cell(encoded.substr(1)).has_value());
    EXPECT_NE(lease_cell_key("acme", "jobs"), lease_cell_key("acme", "job"));
    EXPECT_EQ(lease_cell_key("acme", "jobs")[0], 'q');
}

UsageEvent lease_event(std::string_view key, std::int64_t at_s,
                       std::initializer_list<Property> properties) {
    UsageEvent event;
    event.idempotency_key = key;
    event.tenant_id = "acme";
    event.meter = "jobs";
    event.quantity = Decimal::from_micros(kSlot);
    event.timestamp_us = at_s * kSecond;
    for (const Property& property : properties) {
        event.properties[event.property_count++] = property;
    }
    return event;
}

TEST(Leases, AnEventAsksForATtlOrAReleaseThroughItsProperties) {
    const Property ttl{"lease_ttl_ms", "30000", PropertyKind::number};
    EXPECT_EQ(lease_ttl_us_of(lease_event("k", 0, {ttl})), 30 * kSecond);
    EXPECT_EQ(lease_ttl_us_of(lease_event("k", 0, {})), kDefaultLeaseTtlUs);
    for (const char* bad : {"0", "999", "-5", "1.5", "1e3", "99999999999"}) {
        EXPECT_EQ(
            lease_ttl_us_of(lease_event("k", 0, {{"lease_ttl_ms", bad, PropertyKind::number}})),
            kDefaultLeaseTtlUs)
            << bad;
    }
    EXPECT_EQ(
        lease_ttl_us_of(lease_event("k", 0, {{"lease_ttl_ms", "30000", PropertyKind::string}})),
        kDefaultLeaseTtlUs);
    const UsageEvent freeing = lease_event("r", 0, {{"lease_release", "k1", PropertyKind::string}});
    EXPECT_EQ(lease_release_of(freeing), std::optional<std::string_view>("k1"));
    const LeaseOp op = lease_op_of(freeing, DedupKey{7, 7});
    EXPECT_TRUE(op.release);
    EXPECT_EQ(op.lease, dedup_key("acme", "k1"));
    const LeaseOp taking = lease_op_of(lease_event("k2", 100, {ttl}), DedupKey{7, 7});
    EXPECT_FALSE(taking.release);
    EXPECT_EQ(taking.lease, (DedupKey{7, 7}));
    EXPECT_EQ(taking.expires_us, 130 * kSecond);
}

TEST(Leases, TheProjectionRowFollowsTheLedgersRules) {
    std::string row;
    const Property ttl{"lease_ttl_ms", "10000", PropertyKind::number};
    apply_lease_entry(lease_event("a", 100, {ttl}), row);
    apply_lease_entry(lease_event("b", 105, {ttl}), row);
    std::vector<LeaseLine> lines;
    ASSERT_TRUE(parse_lease_row(row, lines));
    ASSERT_EQ(lines.size(), 2U);
    EXPECT_EQ(lines[0].id, "a");
    EXPECT_EQ(lines[0].acquired_us, 100 * kSecond);
    EXPECT_EQ(lines[0].expires_us, 110 * kSecond);
    EXPECT_EQ(lines[0].slots_micros, kSlot);
    apply_lease_entry(lease_event("r", 106, {{"lease_release", "b", PropertyKind::string}}), row);
    ASSERT_TRUE(parse_lease_row(row, lines));
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_EQ(lines[0].id, "a");
    apply_lease_entry(lease_event("c", 110, {ttl}), row);  // "a" expired at 110
    ASSERT_TRUE(parse_lease_row(row, lines));
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_EQ(lines[0].id, "c");
    EXPECT_FALSE(parse_lease_row("a\t1\t2\n", lines));
}

TEST(Leases, AConcurrencyMeterIsALeaseLimitAndUnlimitedForTheMonthlyFigures) {
    auto plans = parse_plans(R"({"default_plan":"free","plans":[{"id":"free","meters":{
        "jobs":{"limit":"2","kind":"concurrency"},"api_calls":{"limit":"10"}}}]})");
    ASSERT_TRUE(plans.ok()) << plans.error();
    const MeterPlan* jobs = plans->plans[0].find("jobs");
    ASSERT_NE(jobs, nullptr);
    EXPECT_TRUE(jobs->concurrency);
    EXPECT_EQ(jobs->slots, 2);
    EXPECT_FALSE(jobs->limit.has_value());
    EXPECT_TRUE(jobs->thresholds.empty());
    EXPECT_TRUE(has_hard_limits(*plans));
    const BillingCalendar calendar;
    const auto limit = hard_limit_of(*plans, AccountInForce{nullptr, calendar}, "jobs", 0);
    ASSERT_TRUE(limit.has_value());
    EXPECT_TRUE(limit->concurrency);
    EXPECT_EQ(limit->limit_micros, 2 * kSlot);
    EXPECT_FALSE(hard_limit_of(*plans, AccountInForce{nullptr, calendar}, "api_calls", 0));
    for (
        const char* bad :
        {R"({"default_plan":"p","plans":[{"id":"p","meters":{"jobs":{"limit":null,"kind":"concurrency"}}}]})",
         R"({"default_plan":"p","plans":[{"id":"p","meters":{"jobs":{"limit":"1.5","kind":"concurrency"}}}]})",
         R"({"default_plan":"p","plans":[{"id":"p","meters":{"jobs":{"limit":"1","kind":"concurrency",
              "overage_unit_price":"1"}}}]})",
         R"({"default_plan":"p","plans":[{"id":"p","meters":{"jobs":{"limit":"1","kind":"gauge"}}}]})"}) {
        EXPECT_FALSE(parse_plans(bad).ok()) << bad;
    }
}

}  // namespace
}  // namespace ul
