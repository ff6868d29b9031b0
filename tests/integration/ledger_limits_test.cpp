// Hard limits in the ledger store (ledger/limits.h) on a real RocksDB: an event past the limit is
// rejected_limit (a dead letter with reason limit_exceeded, not an entry), its key answers later
// retries as a duplicate of that verdict (in the same batch and across batches and a reopen),
// the running total survives a reopen, a new period starts from 0, and verify() accounts for the
// rejected events' keys. A seeded property test checks the totals against a reference. Leases and
// credits, decided in the same store, at the end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "ledger/ledger_store.h"
#include "schemas/time.h"
#include "tests/support/process.h"

namespace ul {
namespace {

const std::int64_t kNow = *parse_rfc3339("2026-11-24T12:00:00Z");
const std::int64_t kNovember = *parse_rfc3339("2026-11-01T00:00:00Z");
const std::int64_t kDecember = *parse_rfc3339("2026-12-01T00:00:00Z");

// api_calls is hard-limited at `limit` per UTC calendar month for every tenant; other meters are
// soft.
class FixedPolicy final : public LimitPolicy {
  public:
    explicit FixedPolicy(std::int64_t limit_units) : limit_micros_(limit_units * 1'000'000) {}
    std::optional<HardLimit> hard_limit(std::string_view, std::string_view meter,
                                        std::int64_t time_us) const override {
        if (meter != "api_calls") {
            return std::nullopt;
        }
        if (time_us >= kDecember) {
            return HardLimit{limit_micros_, kDecember, *parse_rfc3339("2027-01-01T00:00:00Z")};
        }
        return HardLimit{limit_micros_, kNovember, kDecember};
    }
    bool ready() const override { return true; }

  private:
    std::int64_t limit_micros_;
};

std::string call(const std::string& tenant, const std::string& key, const std::string& quantity,
                 const std::string& meter = "api_calls",
                 const std::string& time = "2026-11-24T10:00:00Z") {
    return R"({"idempotency_key":")" + key + R"(","tenant_id":")" + tenant + R"(","meter":")" +
           meter + R"(","quantity":")" + quantity + R"(","timestamp":")" + time + R"("})";
}

std::unique_ptr<LedgerStore> open_store(const std::string& path, const LimitPolicy* policy,
                                        std::size_t cache_cells = 200'000) {
    LedgerStoreOptions options;
    options.limit_cache_cells = cache_cells;
    options.path = path;
    options.sync = false;
    options.limits = policy;
    options.validation.max_event_age_us = 400LL * 24 * 3600 * 1'000'000;
    auto store = LedgerStore::open(options, OpenMode::read_write);
    EXPECT_TRUE(store) << (store ? "" : store.error());
    return store ? std::move(store).value() : nullptr;
}

std::vector<MessageOutcome> apply(LedgerStore& store, std::int64_t& offset,
                                  const std::vector<std::string>& values, std::int64_t now = kNow) {
    std::vector<SourceMessage> batch;
    for (const auto& value : values) {
        batch.push_back(SourceMessage{0, offset++, "k", value});
    }
    auto applied = store.apply(batch, now);
    EXPECT_TRUE(applied) << (applied ? "" : applied.error());
    return applied ? std::vector<MessageOutcome>(applied->begin(), applied->end())
                   : std::vector<MessageOutcome>{};
}

TEST(LedgerLimits, AnEventPastTheLimitIsRejectedAndItsRetryIsADuplicateOfThatVerdict) {
    test::TempDir dir;
    FixedPolicy policy(10);
    auto store = open_store(dir.path(), &policy);
    std::int64_t offset = 0;
    auto first =
        apply(*store, offset,
              {call("acme", "a", "4"), call("acme", "b", "4"), call("acme", "c", "4"),
               call("acme", "c", "4"), call("acme", "d", "2"), call("acme", "t", "99", "tokens")});
    ASSERT_EQ(first.size(), 6U);
    EXPECT_EQ(first[0].decision.verdict, Verdict::accepted);
    EXPECT_EQ(first[0].used_micros, 4'000'000);
    EXPECT_EQ(first[1].decision.verdict, Verdict::accepted);
    EXPECT_EQ(first[2].decision.verdict, Verdict::rejected_limit);
    EXPECT_EQ(first[2].decision.reason, Reason::limit_exceeded);
    EXPECT_TRUE(first[2].limited);
    EXPECT_EQ(first[2].used_micros, 8'000'000);
    EXPECT_EQ(first[2].limit_micros, 10'000'000);
    EXPECT_EQ(first[2].period_end_us, kDecember);
    // The same key again in the same batch: a duplicate of the rejected verdict.
    EXPECT_EQ(first[3].decision.verdict, Verdict::duplicate);
    EXPECT_TRUE(first[3].first_rejected);
    // A smaller event still fits.
    EXPECT_EQ(first[4].decision.verdict, Verdict::accepted);
    EXPECT_EQ(first[4].used_micros, 10'000'000);
    // Soft meters are not limited.
    EXPECT_EQ(first[5].decision.verdict, Verdict::accepted);
    EXPECT_FALSE(first[5].limited);

    // Full: even one more unit is refused; a zero quantity fits.
    auto second = apply(*store, offset, {call("acme", "e", "0.000001"), call("acme", "f", "0")});
    EXPECT_EQ(second[0].decision.verdict, Verdict::rejected_limit);
    EXPECT_EQ(second[1].decision.verdict, Verdict::accepted);
    EXPECT_EQ(store->counts().rejected_limit(), 2U);
    EXPECT_EQ(store->counts().invalid(), 0U);
    EXPECT_EQ(store->counts().accepted, 5U);
    EXPECT_EQ(store->partition(0).dlq_next, 2U);  // both refusals are dead letters
    auto verified = store->verify();
    EXPECT_TRUE(verified.ok) << verified.problem;

    // After a reopen: the total and the rejected keys are still there.
    store.reset();
    store = open_store(dir.path(), &policy);
    auto third = apply(*store, offset,
                       {call("acme", "c", "4"), call("acme", "a", "4"), call("acme", "g", "1"),
                        call("globex", "g", "10")});
    EXPECT_EQ(third[0].decision.verdict, Verdict::duplicate);
    EXPECT_TRUE(third[0].first_rejected);
    EXPECT_EQ(third[0].used_micros, 10'000'000);
    EXPECT_EQ(third[1].decision.verdict, Verdict::duplicate);
    EXPECT_FALSE(third[1].first_rejected);
    EXPECT_EQ(third[2].decision.verdict, Verdict::rejected_limit);
    EXPECT_EQ(third[3].decision.verdict, Verdict::accepted);  // another tenant, its own total
    // A new period starts from zero.
    auto december =
        apply(*store, offset, {call("acme", "h", "10", "api_calls", "2026-12-01T00:00:00Z")},
              *parse_rfc3339("2026-12-01T00:01:00Z"));
    EXPECT_EQ(december[0].decision.verdict, Verdict::accepted);
    EXPECT_EQ(december[0].used_micros, 10'000'000);
    verified = store->verify();
    EXPECT_TRUE(verified.ok) << verified.problem;
    std::vector<Reason> reasons;
    auto read = store->read_dead_letters(0, 0, 100, [&](std::uint64_t, const DeadLetter& letter) {
        reasons.push_back(letter.reason);
    });
    ASSERT_TRUE(read);
    EXPECT_EQ(reasons, std::vector<Reason>(3, Reason::limit_exceeded));
}

TEST(LedgerLimits, WithoutAPolicyNothingIsLimited) {
    test::TempDir dir;
    auto store = open_store(dir.path(), nullptr);
    std::int64_t offset = 0;
    auto outcomes = apply(*store, offset, {call("acme", "a", "1000000")});
    EXPECT_EQ(outcomes[0].decision.verdict, Verdict::accepted);
    EXPECT_FALSE(outcomes[0].limited);
}

TEST(LedgerLimits, TotalsMatchAReferenceAcrossRandomBatches) {
    const char* forced = std::getenv("UL_TEST_SEED");
    const std::uint64_t seed =
        forced != nullptr ? std::strtoull(forced, nullptr, 10) : std::random_device{}();
    std::printf("LedgerLimits seed %llu (UL_TEST_SEED replays it)\n",
                static_cast<unsigned long long>(seed));
    std::mt19937_64 random(seed);
    test::TempDir dir;
    FixedPolicy policy(50);
    // A cache of 2 cells for 3 tenants: emptied often, so totals come from memory and from the
    // store in turn.
    auto store = open_store(dir.path(), &policy, 2);
    std::int64_t offset = 0;
    std::map<std::string, std::int64_t> used;                  // tenant → accepted units
    std::map<std::pair<std::string, std::string>, int> first;  // key → 1 accepted, 2 rejected
    for (int round = 0; round < 40; ++round) {
        std::vector<std::string> values;
        std::vector<std::tuple<std::string, std::string, std::int64_t>> sent;
        const int size = 1 + static_cast<int>(random() % 30);
        for (int index = 0; index < size; ++index) {
            const std::string tenant = "t" + std::to_string(random() % 3);
            const std::string key = "k" + std::to_string(random() % 120);
            const std::int64_t quantity = static_cast<std::int64_t>(random() % 7);
            values.push_back(call(tenant, key, std::to_string(quantity)));
            sent.emplace_back(tenant, key, quantity);
        }
        auto outcomes = apply(*store, offset, values);
        ASSERT_EQ(outcomes.size(), sent.size());
        for (std::size_t index = 0; index < sent.size(); ++index) {
            const auto& [tenant, key, quantity] = sent[index];
            const auto found = first.find({tenant, key});
            const Verdict verdict = outcomes[index].decision.verdict;
            if (found == first.end()) {
                if (used[tenant] + quantity <= 50) {
                    ASSERT_EQ(verdict, Verdict::accepted) << "seed " << seed;
                    used[tenant] += quantity;
                    first[{tenant, key}] = 1;
                } else {
                    ASSERT_EQ(verdict, Verdict::rejected_limit) << "seed " << seed;
                    first[{tenant, key}] = 2;
                }
            } else {
                ASSERT_TRUE(verdict == Verdict::duplicate || verdict == Verdict::conflict);
                ASSERT_EQ(outcomes[index].first_rejected, found->second == 2) << "seed " << seed;
            }
            ASSERT_EQ(outcomes[index].used_micros, used[tenant] * 1'000'000) << "seed " << seed;
        }
    }
    auto verified = store->verify();
    EXPECT_TRUE(verified.ok) << verified.problem;
}

// Leases and credits (ledger/limits.h decide_leases, schemas/wallet.h): a concurrency meter's
// acquires past its slots are rejected_limit and their keys answer retries; a release and an
// expiry free a slot; a hard meter paid in credits is refused past the wallet, a soft one is
// not; a bad grant is dead-lettered; all of it survives a reopen and verify() accounts for the
// refused keys.
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
