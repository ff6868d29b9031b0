// Leases and credits in the ledger store on a real RocksDB (ledger/limits.h decide_leases,
// schemas/wallet.h): a concurrency meter's acquires past its slots are rejected_limit and their
// keys answer retries; a release and an expiry free a slot; a hard meter paid in credits is
// refused past the wallet, a soft one is not; a bad grant is dead-lettered; all of it survives a
// reopen and verify() accounts for the refused keys.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ledger/ledger_store.h"
#include "schemas/time.h"
#include "tests/support/process.h"

namespace ul {
namespace {

const std::int64_t kNow = *parse_rfc3339("2026-11-24T12:00:00Z");
const std::int64_t kNovember = *parse_rfc3339("2026-11-01T00:00:00Z");
const std::int64_t kDecember = *parse_rfc3339("2026-12-01T00:00:00Z");
constexpr std::int64_t kUnit = 1'000'000;

// jobs: 1 slot; renders: hard, 2 credits a unit; tokens: soft, 0.5 a unit; 10 credits a month.
class Policy final : public LimitPolicy {
  public:
    std::optional<HardLimit> hard_limit(std::string_view, std::string_view meter,
                                        std::int64_t) const override {
        if (meter == "jobs") {
            return HardLimit{1 * kUnit, 0, 0, true};
        }
        return std::nullopt;
    }
    std::optional<CreditRule> credit_rule(std::string_view, std::string_view meter,
                                          std::int64_t) const override {
        CreditRule rule;
        rule.monthly_micros = 10 * kUnit;
        rule.month_start_us = kNovember;
        rule.month_end_us = kDecember;
        if (meter == "renders" || meter == "tokens") {
            rule.credits_per_unit_micros = meter == "renders" ? 2 * kUnit : kUnit / 2;
            rule.hard = meter == "renders";
            return rule;
        }
        return meter == kCreditGrantMeter ? std::optional<CreditRule>(rule) : std::nullopt;
    }
    bool ready() const override { return true; }
};

std::string event(const std::string& key, const std::string& meter, const std::string& quantity,
                  const std::string& time, const std::string& properties = "") {
    return R"({"idempotency_key":")" + key + R"(","tenant_id":"acme","meter":")" + meter +
           R"(","quantity":")" + quantity + R"(","timestamp":")" + time + "\"" +
           (properties.empty() ? "" : ",\"properties\":" + properties) + "}";
}

std::unique_ptr<LedgerStore> open_store(const std::string& path, const LimitPolicy* policy) {
    LedgerStoreOptions options;
    options.path = path;
    options.sync = false;
    options.limits = policy;
    options.validation.max_event_age_us = 400LL * 24 * 3600 * 1'000'000;
    auto store = LedgerStore::open(options, OpenMode::read_write);
    EXPECT_TRUE(store) << (store ? "" : store.error());
    return store ? std::move(store).value() : nullptr;
}

std::vector<MessageOutcome> apply(LedgerStore& store, std::int64_t& offset,
                                  const std::vector<std::string>& values) {
    std::vector<SourceMessage> batch;
    for (const auto& value : values) {
        batch.push_back(SourceMessage{0, offset++, "k", value});
    }
    auto applied = store.apply(batch, kNow);
    EXPECT_TRUE(applied) << (applied ? "" : applied.error());
    return applied ? std::vector<MessageOutcome>(applied->begin(), applied->end())
                   : std::vector<MessageOutcome>{};
}

TEST(LedgerLeases, OneSlotIsHeldByOneLeaseUntilReleaseOrExpiry) {
    test::TempDir dir;
    Policy policy;
    auto store = open_store(dir.path(), &policy);
    std::int64_t offset = 0;
    const std::string ttl = R"({"lease_ttl_ms":60000})";
    auto first = apply(*store, offset,
                       {event("j1", "jobs", "1", "2026-11-24T10:00:00Z", ttl),
                        event("j2", "jobs", "1", "2026-11-24T10:00:01Z", ttl),
                        event("j2", "jobs", "1", "2026-11-24T10:00:01Z", ttl)});
    EXPECT_EQ(first[0].decision.verdict, Verdict::accepted);
    EXPECT_TRUE(first[0].lease);
    EXPECT_EQ(first[0].period_end_us, *parse_rfc3339("2026-11-24T10:01:00Z"));
    EXPECT_EQ(first[1].decision.verdict, Verdict::rejected_limit);
    EXPECT_EQ(first[1].used_micros, kUnit);
    EXPECT_EQ(first[2].decision.verdict, Verdict::duplicate);
    EXPECT_TRUE(first[2].first_rejected);
    // Across a reopen: still held; released; free again.
    store.reset();
    store = open_store(dir.path(), &policy);
    auto second =
        apply(*store, offset,
              {event("j3", "jobs", "1", "2026-11-24T10:00:30Z", ttl),
               event("r1", "jobs", "0", "2026-11-24T10:00:31Z", R"({"lease_release":"j1"})"),
               event("r2", "jobs", "0", "2026-11-24T10:00:32Z", R"({"lease_release":"j1"})"),
               event("j4", "jobs", "1", "2026-11-24T10:00:33Z", ttl),
               event("j5", "jobs", "1", "2026-11-24T10:01:32Z", ttl),
               event("j6", "jobs", "1", "2026-11-24T10:01:33Z", ttl)});
    EXPECT_EQ(second[0].decision.verdict, Verdict::rejected_limit);
    EXPECT_EQ(second[1].decision.verdict, Verdict::accepted);
    EXPECT_TRUE(second[1].lease_released);
    EXPECT_EQ(second[2].decision.verdict, Verdict::accepted);  // a release is an entry anyway
    EXPECT_FALSE(second[2].lease_released);
    EXPECT_EQ(second[3].decision.verdict, Verdict::accepted);
    EXPECT_EQ(second[4].decision.verdict, Verdict::rejected_limit);  // j4 holds until 10:01:33
    EXPECT_EQ(second[4].period_end_us, *parse_rfc3339("2026-11-24T10:01:33Z"));
    EXPECT_EQ(second[5].decision.verdict, Verdict::accepted);  // j4 expired at 10:01:33
    EXPECT_EQ(store->counts().rejected_limit(), 3U);
    auto verified = store->verify();
    EXPECT_TRUE(verified.ok) << verified.problem;
}

TEST(LedgerCredits, AHardMeterIsRefusedPastTheWalletAndASoftOneIsNot) {
    test::TempDir dir;
    Policy policy;
    auto store = open_store(dir.path(), &policy);
    std::int64_t offset = 0;
    auto first =
        apply(*store, offset,
              {event("r1", "renders", "4", "2026-11-24T10:00:00Z"),    // 8 of the 10 allowance
               event("r2", "renders", "1.5", "2026-11-24T10:00:01Z"),  // 3 > 2 left: refused
               event("g1", "credits.grant", "2.5", "2026-11-24T10:00:02Z", R"({"priority":1})"),
               event("r3", "renders", "1.5", "2026-11-24T10:00:03Z"),  // 3 of 4.5
               event("t1", "tokens", "10", "2026-11-24T10:00:04Z"),    // 5 of 1.5: 3.5 uncovered
               event("g2", "credits.grant", "1", "2026-11-24T10:00:05Z", R"({"priority":1001})")});
    EXPECT_EQ(first[0].decision.verdict, Verdict::accepted);
    EXPECT_TRUE(first[0].credits);
    EXPECT_EQ(first[0].credits_balance_micros, 2 * kUnit);
    EXPECT_EQ(first[1].decision.verdict, Verdict::rejected_limit);
    EXPECT_EQ(first[1].credits_micros, 3 * kUnit);
    EXPECT_EQ(first[1].credits_balance_micros, 2 * kUnit);
    EXPECT_EQ(first[2].decision.verdict, Verdict::accepted);
    EXPECT_EQ(first[2].credits_balance_micros, 4'500'000);
    EXPECT_EQ(first[3].decision.verdict, Verdict::accepted);
    EXPECT_EQ(first[3].credits_balance_micros, 1'500'000);
    EXPECT_EQ(first[4].decision.verdict, Verdict::accepted);
    EXPECT_EQ(first[4].credits_uncovered_micros, 3'500'000);
    EXPECT_EQ(first[4].credits_balance_micros, 0);
    EXPECT_EQ(first[5].decision.verdict, Verdict::invalid);
    EXPECT_EQ(first[5].decision.reason, Reason::bad_properties);
    // The wallet is durable: after a reopen it is still empty, so a render is refused.
    store.reset();
    store = open_store(dir.path(), &policy);
    auto second = apply(*store, offset, {event("r4", "renders", "0.5", "2026-11-24T11:00:00Z")});
    EXPECT_EQ(second[0].decision.verdict, Verdict::rejected_limit);
    EXPECT_EQ(store->counts().rejected_limit(), 2U);
    auto verified = store->verify();
    EXPECT_TRUE(verified.ok) << verified.problem;
}

}  // namespace
}  // namespace ul
