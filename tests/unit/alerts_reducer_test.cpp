// The alerts reducer, pure: which thresholds an entry crosses, once per identity, with the state
// written and read back between entries as the runner does (at write boundaries drawn from a
// logged seed — the decisions must not depend on them).
#include "projections/alerts/alerts_reducer.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "schemas/time.h"

namespace {

using ul::Account;
using ul::AlertsReducer;
using ul::Decimal;

Decimal dec(const char* text) {
    return *Decimal::parse_quantity(text);
}

std::int64_t at(const char* rfc3339) {
    return *ul::parse_rfc3339(rfc3339);
}

ul::PlanBook plans() {
    ul::PlanBook book;
    book.default_plan = "free";
    auto meter = [](const char* name, std::optional<Decimal> limit) {
        ul::MeterPlan plan;
        plan.meter = name;
        plan.limit = limit;
        plan.thresholds = {dec("0.8"), dec("0.95"), dec("1")};
        return plan;
    };
    auto plan = [&](const char* id, const char* name, const char* tokens) {
        ul::Plan made;
        made.id = id;
        made.name = name;
        made.meters = {meter("tokens", dec(tokens)), meter("audio", {})};
        return made;
    };
    book.plans.push_back(plan("free", "Free", "1000"));
    book.plans.push_back(plan("pro", "Pro", "2000"));
    book.plans.push_back(plan("tiny", "Tiny", "500"));
    return book;
}

// The store, in memory: what the runner's WriteBatch would hold, merged as RocksDB merges.
class MemoryState final : public ul::StateReader, public ul::StateWriter {
  public:
    explicit MemoryState(const std::vector<ul::StateFamily>& families) : families_(families) {}
    ul::Result<std::optional<std::string>, std::string> get(std::size_t family,
                                                            std::string_view key) const override {
        const auto found = rows_.find({family, std::string(key)});
        return found == rows_.end() ? std::optional<std::string>()
                                    : std::optional<std::string>(found->second);
    }
    void merge(std::size_t family, std::string_view key, std::string_view delta) override {
        auto& row = rows_[{family, std::string(key)}];
        const auto found = rows_.find({family, std::string(key)});
        std::string out;
        const std::string existing = found->second;
        const std::string_view view(existing);
        ASSERT_TRUE(families_[family].merge(existing.empty() ? nullptr : &view, delta, out));
        row = out;
    }
    void put(std::size_t family, std::string_view key, std::string_view value) override {
        rows_[{family, std::string(key)}] = std::string(value);
    }
    void erase(std::size_t family, std::string_view key) override {
        rows_.erase({family, std::string(key)});
    }
    const std::map<std::pair<std::size_t, std::string>, std::string>& rows() const { return rows_; }

  private:
    const std::vector<ul::StateFamily>& families_;
    std::map<std::pair<std::size_t, std::string>, std::string> rows_;
};

struct Event {
    std::string tenant;
    std::string meter;
    const char* quantity;
    const char* time;
    const Account* account = nullptr;  // the version in force at `time`
};

// Feeds events to the reducer as the runner would (sequence per partition 0), writing the deltas
// where `flush_after` says; returns the effects in order.
class Harness {
  public:
    explicit Harness(std::uint64_t seed = 0) : state_(reducer_.families()), random_(seed) {}
    std::vector<ul::Effect> feed(const std::vector<Event>& events, bool random_flushes = false) {
        std::vector<ul::Effect> effects;
        for (const auto& spec : events) {
            ul::UsageEvent event;
            event.tenant_id = spec.tenant;
            event.meter = spec.meter;
            event.quantity = dec(spec.quantity);
            event.timestamp_us = at(spec.time);
            const ul::BillingCalendar calendar;
            auto reduced = reducer_.reduce({0, sequence_++, event}, {spec.account, calendar},
                                           state_, *deltas_, effects);
            EXPECT_TRUE(reduced) << (reduced ? "" : reduced.error());
            if (random_flushes && random_() % 3 == 0) {
                flush();
            }
        }
        flush();
        return effects;
    }
    void flush() {
        deltas_->write(state_);
        deltas_->clear();
    }
    const MemoryState& state() const { return state_; }

  private:
    const AlertsReducer reducer_{{}, plans()};
    MemoryState state_;
    std::unique_ptr<ul::ReducerDeltas> deltas_ = reducer_.make_deltas();
    std::uint64_t sequence_ = 0;
    std::mt19937_64 random_;
};

std::string field(const std::string& json, const std::string& name) {
    const auto key = "\"" + name + "\":";
    const auto start = json.find(key);
    if (start == std::string::npos) {
        return "";
    }
    auto value = json.substr(start + key.size());
    if (value.front() == '"') {
        return value.substr(1, value.find('"', 1) - 1);
    }
    if (value.front() == '{') {
        return value.substr(0, value.find('}') + 1);
    }
    return value.substr(0, value.find_first_of(",}"));
}

Account account(const char* plan, std::vector<ul::AlertRule> rules = {}) {
    Account a;
    a.tenant_id = "acme";
    a.plan = plan;
    a.alert_rules = std::move(rules);
    return a;
}

TEST(AlertsReducer, CrossesEachPlanThresholdOnceWithTheUsedAndTimeOfTheCrossingEntry) {
    const Account free = account("free");
    // 79 % → 81 % → 96 % → 101 % of 1000, one event late (earlier event time, same month), other
    // tenants' traffic between; then more usage past 100 %, which raises nothing.
    const std::vector<Event> events = {
        {"acme", "tokens", "790", "2026-12-03T10:00:00Z", &free},
        {"other", "tokens", "999", "2026-12-03T10:00:01Z"},
        {"acme", "tokens", "20", "2026-12-04T10:00:00Z", &free},
        {"other", "tokens", "5", "2026-12-04T10:00:01Z"},
        {"acme", "tokens", "150", "2026-12-02T09:00:00Z", &free},  // late
        {"acme", "tokens", "50", "2026-12-05T10:00:00Z", &free},
        {"acme", "tokens", "500", "2026-12-06T10:00:00Z", &free},
    };
    const std::uint64_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    Harness once;
    Harness again(seed);
    const auto effects = once.feed(events);
    ASSERT_EQ(again.feed(events, /*random_flushes=*/true), effects);
    EXPECT_EQ(again.state().rows(), once.state().rows());  // the same bytes, whatever the writes

    std::vector<std::string> acme;
    for (const auto& effect : effects) {
        EXPECT_EQ(effect.kind, "alert");
        if (field(effect.payload, "tenant_id") == "acme") {
            acme.push_back(effect.payload);
            EXPECT_EQ(effect.id, field(effect.payload, "id"));
        }
    }
    ASSERT_EQ(acme.size(), 3U);
    EXPECT_EQ(field(acme[0], "threshold"), R"({"percent":"0.8"})");
    EXPECT_EQ(field(acme[0], "used"), "810");
    EXPECT_EQ(field(acme[0], "crossed_at"), "2026-12-04T10:00:00Z");
    EXPECT_EQ(field(acme[1], "threshold"), R"({"percent":"0.95"})");
    EXPECT_EQ(field(acme[1], "used"), "960");
    EXPECT_EQ(field(acme[1], "crossed_at"), "2026-12-02T09:00:00Z");
    EXPECT_EQ(field(acme[2], "threshold"), R"({"percent":"1"})");
    EXPECT_EQ(field(acme[2], "used"), "1010");
    EXPECT_EQ(field(acme[2], "limit"), "1000");
    EXPECT_EQ(field(acme[2], "period_start"), "2026-12-01T00:00:00Z");
    EXPECT_EQ(field(acme[2], "period_end"), "2027-01-01T00:00:00Z");
    // "other" (no account: the default plan) crossed 80 % and 95 % with its first event, and
    // 100 % with its second.
    EXPECT_EQ(effects.size(), 6U);
}

TEST(AlertsReducer, AnUpgradeReArmsAtTheNewLimitAndADowngradeRaisesWhatItNowPassesOnce) {
    const Account free = account("free");
    const Account pro = account("pro");
    const Account tiny = account("tiny");
    Harness harness;
    auto effects = harness.feed({{"acme", "tokens", "850", "2026-12-03T10:00:00Z", &free}});
    ASSERT_EQ(effects.size(), 1U);  // 80 % of 1000
    // Upgrade to 2000: 850 is 42.5 %, nothing; 1600 is 80 % of the new limit: a new identity.
    effects = harness.feed({{"acme", "tokens", "10", "2026-12-04T10:00:00Z", &pro},
                            {"acme", "tokens", "740", "2026-12-05T10:00:00Z", &pro}});
    ASSERT_EQ(effects.size(), 1U);
    EXPECT_EQ(field(effects[0].payload, "limit"), "2000");
    EXPECT_EQ(field(effects[0].payload, "used"), "1600");
    // Downgrade to 500 with 1600 used: its 80 %, 95 % and 100 % all raised by the next entry,
    // once.
    effects = harness.feed({{"acme", "tokens", "1", "2026-12-06T10:00:00Z", &tiny},
                            {"acme", "tokens", "1", "2026-12-07T10:00:00Z", &tiny}});
    ASSERT_EQ(effects.size(), 3U);
    for (const auto& effect : effects) {
        EXPECT_EQ(field(effect.payload, "limit"), "500");
        EXPECT_EQ(field(effect.payload, "crossed_at"), "2026-12-06T10:00:00Z");
    }
    // Back to free (1000) with 1602 used: its 80 % was raised this month already; 95 % and 100 %
    // of 1000 were not (850 was all the usage then): raised now, once.
    effects = harness.feed({{"acme", "tokens", "1", "2026-12-08T10:00:00Z", &free},
                            {"acme", "tokens", "1", "2026-12-09T10:00:00Z", &free}});
    ASSERT_EQ(effects.size(), 2U);
    EXPECT_EQ(field(effects[0].payload, "threshold"), R"({"percent":"0.95"})");
    EXPECT_EQ(field(effects[1].payload, "threshold"), R"({"percent":"1"})");
    EXPECT_EQ(field(effects[1].payload, "limit"), "1000");
}

TEST(AlertsReducer, AbsoluteRulesFireOnceAtTheAmountAlsoOnUnlimitedMetersAndPerDay) {
    ul::AlertRule monthly{"big-audio", "audio", false, true, dec("5000")};
    ul::AlertRule daily{"daily-audio", "audio", true, true, dec("100")};
    const Account with_rules = account("free", {monthly, daily});
    Harness harness;
    const auto effects = harness.feed({
        {"acme", "audio", "60", "2026-12-03T10:00:00Z", &with_rules},
        {"acme", "audio", "60", "2026-12-03T11:00:00Z", &with_rules},    // day: 120 ≥ 100
        {"acme", "audio", "60", "2026-12-03T12:00:00Z", &with_rules},    // nothing new
        {"acme", "audio", "4900", "2026-12-04T10:00:00Z", &with_rules},  // month 5080; day 4900
        {"acme", "audio", "1000", "2026-12-04T11:00:00Z", &with_rules},  // nothing new
    });
    ASSERT_EQ(effects.size(), 3U);
    EXPECT_EQ(field(effects[0].payload, "rule"), "daily-audio");
    EXPECT_EQ(field(effects[0].payload, "period_start"), "2026-12-03T00:00:00Z");
    EXPECT_EQ(field(effects[0].payload, "used"), "120");
    EXPECT_EQ(field(effects[0].payload, "limit"), "null");
    EXPECT_EQ(field(effects[1].payload, "rule"), "big-audio");
    EXPECT_EQ(field(effects[1].payload, "used"), "5080");
    EXPECT_EQ(field(effects[1].payload, "threshold"), R"({"amount":"5000"})");
    EXPECT_EQ(field(effects[2].payload, "rule"), "daily-audio");
    EXPECT_EQ(field(effects[2].payload, "period_start"), "2026-12-04T00:00:00Z");
}

TEST(AlertsReducer, ALateEventCrossesAThresholdOfThePastPeriodForThatPeriod) {
    const Account free = account("free");
    Harness harness;
    auto effects = harness.feed({{"acme", "tokens", "700", "2026-11-20T10:00:00Z", &free},
                                 {"acme", "tokens", "10", "2026-12-01T10:00:00Z", &free},
                                 {"acme", "tokens", "150", "2026-11-29T10:00:00Z", &free}});
    ASSERT_EQ(effects.size(), 1U);
    EXPECT_EQ(field(effects[0].payload, "period_start"), "2026-11-01T00:00:00Z");
    EXPECT_EQ(field(effects[0].payload, "used"), "850");
}

TEST(AlertsReducer, IdsAreStableAndDifferByIdentity) {
    const auto id = ul::alert_id("acme", "tokens", false, 1, "p0.8@1000");
    EXPECT_EQ(id, ul::alert_id("acme", "tokens", false, 1, "p0.8@1000"));
    EXPECT_NE(id, ul::alert_id("acme", "tokens", false, 1, "p0.8@2000"));
    EXPECT_NE(id, ul::alert_id("acme", "tokens", true, 1, "p0.8@1000"));
    EXPECT_EQ(id.size(), 35U);
    EXPECT_EQ(id.substr(0, 3), "al_");
}

TEST(AlertsReducer, ThresholdsAreExactDecimals) {
    ul::AlertThreshold third{false, false, dec("0.333333"), dec("3"), "plan", ""};
    EXPECT_FALSE(ul::threshold_reached(third, ul::DecimalSum::from_micros(999'998)));
    EXPECT_TRUE(ul::threshold_reached(third, ul::DecimalSum::from_micros(999'999)));
    ul::AlertThreshold unlimited{false, false, dec("0.8"), std::nullopt, "plan", ""};
    EXPECT_FALSE(ul::threshold_reached(unlimited, ul::DecimalSum::from_micros(1LL << 62)));
}

}  // namespace
