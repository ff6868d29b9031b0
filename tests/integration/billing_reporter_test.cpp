// The billing reporter (projections/billing/billing_reporter.h) against the fake Stripe over real
// sockets, with one injected clock for both (the fake checks Stripe's timestamp window on it):
// - exactness: random usage on many cells (units 1 and 1000, fractional quantities), the fake
//   failing 30 % of requests at random, answers held past the client's timeout after the event
//   was recorded, a 15-minute outage, restarts of the reporter on its store: Stripe's sum per
//   (customer, event name) is floor(usage / unit) exactly;
// - the breaker opens after 5 consecutive failures, sends nothing while open, closes after the
//   pause (clock advanced, never slept);
// - a late event of a closed period is reported inside the period and Stripe's window; one older
//   than 35 days is unreportable, visible and counted; a permanent 4xx is failed with Stripe's
//   body. The seed is logged.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "projections/billing/billing_reporter.h"
#include "tests/fakes/fake_stripe.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::BillingCellKey;
using ul::BillingReporter;
using ul::BillingReporterOptions;
using ul::Cell;
using ul::Decimal;
using ul::fakes::FakeStripe;

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kDec2026 = 1'796'083'200LL * kSecond;  // 2026-12-01T00:00:00Z
constexpr std::int64_t kJan2027 = 1'798'761'600LL * kSecond;  // 2027-01-01T00:00:00Z
constexpr std::int64_t kNov2026 = 1'793'491'200LL * kSecond;  // 2026-11-01T00:00:00Z
constexpr std::int64_t kOct2026 = 1'790'812'800LL * kSecond;  // 2026-10-01T00:00:00Z
const std::string kKey = "sk_test_billing_suite";

// The projection's billing cells, in memory: what the reporter reads.
class Cells {
  public:
    void add(const BillingCellKey& key, std::int64_t micros, std::int64_t at_us) {
        std::lock_guard lock(mutex_);
        const std::string bytes = ul::billing_key(key);
        const Cell added = ul::cell_of(Decimal::from_micros(micros), at_us);
        auto [found, inserted] = cells_.emplace(bytes, added);
        if (!inserted) {
            ASSERT_TRUE(ul::merge_cell(found->second, added));
        }
    }
    ul::BillingCellSource source() {
        return [this](const ul::BillingCellVisitor& visit) -> ul::Result<bool, std::string> {
            std::map<std::string, Cell> copy;
            {
                std::lock_guard lock(mutex_);
                copy = cells_;
            }
            for (const auto& [key, cell] : copy) {
                if (!visit(key, cell)) {
                    break;
                }
            }
            return true;
        };
    }
    // (customer, event name) → floor(usage / unit) summed over its cells, by integer arithmetic
    // of the test's own (not the reporter's).
    std::map<std::tuple<std::string, std::string>, std::int64_t> expected() const {
        std::lock_guard lock(mutex_);
        std::map<std::tuple<std::string, std::string>, std::int64_t> out;
        for (const auto& [bytes, cell] : cells_) {
            const auto key = ul::decode_billing_key(bytes);
            const auto units = cell.sum.micros() / key->unit.micros();
            out[{key->customer, key->event_name}] += static_cast<std::int64_t>(units);
        }
        std::erase_if(out, [](const auto& entry) { return entry.second == 0; });  // never billed
        return out;
    }

  private:
    mutable std::mutex mutex_;
    std::map<std::string, Cell> cells_;
};

class BillingReporterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const char* given = std::getenv("UL_TEST_SEED");  // to replay a logged run
        seed_ = given != nullptr ? std::stoull(given) : std::random_device{}();
        std::cerr << "billing reporter test seed " << seed_ << "\n";
        ul::fakes::FakeStripeOptions options;
        options.secret_key = kKey;
        options.seed = seed_;
        options.now_seconds = [this] { return now_us_.load() / kSecond; };
        auto fake = FakeStripe::start(options);
        ASSERT_TRUE(fake) << fake.error();
        fake_ = std::move(fake).value();
        fake_->add_meter("mtr_api", "api_calls");
        fake_->add_meter("mtr_tokens", "llm_tokens");
    }

    BillingReporterOptions options() {
        BillingReporterOptions options;
        options.path = (dir_.path() / "billing").string();
        options.stripe.api_base = fake_->base_url();
        options.stripe.secret_key = kKey;
        options.stripe.timeout = 300ms;
        options.stripe.requests_per_second = 100'000;
        options.stripe.burst = 100'000;
        options.interval = 60s;
        options.grace = 1h;
        options.backoff = {.base = 1'000ms, .cap = 30'000ms};
        options.now_us = [this] { return now_us_.load(); };
        options.seed = seed_;
        options.worker = false;
        return options;
    }

    std::unique_ptr<BillingReporter> start() {
        auto reporter = BillingReporter::start(options(), cells_.source());
        EXPECT_TRUE(reporter) << reporter.error();
        return reporter ? std::move(reporter).value() : nullptr;
    }

    void advance(std::int64_t us) { now_us_ += us; }

    std::uint64_t seed_ = 0;
    ul::test::TempDir dir_;
    std::atomic<std::int64_t> now_us_{kDec2026 + 3600 * kSecond};
    Cells cells_;
    std::unique_ptr<FakeStripe> fake_;
};

BillingCellKey cell_key(int tenant, bool tokens, const ul::Period& period) {
    return {"tenant-" + std::to_string(tenant),
            tokens ? "tokens" : "api_calls",
            "cus_" + std::to_string(tenant),
            tokens ? "llm_tokens" : "api_calls",
            *Decimal::parse_quantity(tokens ? "1000" : "1"),
            period};
}

TEST_F(BillingReporterTest, StripeSumsAreFloorOfUsageAcrossFailuresOutageTimeoutsAndRestarts) {
    std::mt19937_64 random(seed_);
    fake_->set_failure_rate(0.3);
    auto reporter = start();
    ASSERT_NE(reporter, nullptr);
    const ul::Period december{kDec2026, kJan2027};
    bool outage_seen = false;
    for (int round = 0; round < 120; ++round) {
        for (int change = 0; change < 4; ++change) {
            const int tenant = static_cast<int>(random() % 6);
            const bool tokens = random() % 2 == 0;
            // Tokens in fractions of a thousand, calls in fractions of one: remainders carry.
            const std::int64_t micros = tokens ? static_cast<std::int64_t>(random() % 3'000'000'000)
                                               : static_cast<std::int64_t>(random() % 5'000'000);
            cells_.add(cell_key(tenant, tokens, december), micros, now_us_.load());
        }
        if (round % 10 == 3) {
            fake_->hang_after_record_next(1, 1'000ms);  // recorded, answer never comes in time
        }
        if (round == 40) {  // a 15-minute outage: connection refused, the breaker opens
            fake_->set_down(true);
            for (int minute = 0; minute < 15; ++minute) {
                ASSERT_TRUE(reporter->run_once(true)) << "outage minute " << minute;
                outage_seen = outage_seen || reporter->breaker().state == ul::BreakerState::open;
                advance(60 * kSecond);
            }
            fake_->set_down(false);
        }
        if (round % 25 == 24) {  // a restart on the same store
            reporter.reset();
            reporter = start();
            ASSERT_NE(reporter, nullptr);
        }
        advance(61 * kSecond);
        ASSERT_TRUE(reporter->run_once()) << "round " << round;
    }
    EXPECT_TRUE(outage_seen) << "the breaker never opened during the outage";
    fake_->set_failure_rate(0);
    // Drain: every pending report goes once the failures stop (backoff and breaker on the clock).
    for (int step = 0; step < 200 && reporter->metrics().pending.load() > 0; ++step) {
        advance(61 * kSecond);
        ASSERT_TRUE(reporter->run_once(true));
    }
    ASSERT_EQ(reporter->metrics().pending.load(), 0);
    ASSERT_TRUE(reporter->run_once(true));  // nothing new: decides nothing
    EXPECT_EQ(reporter->metrics().pending.load(), 0);
    EXPECT_EQ(reporter->metrics().reports_failed.load(), 0U);
    const auto expected = cells_.expected();
    const auto billed = fake_->totals();
    EXPECT_EQ(billed, expected);
    for (const auto& [cell, units] : expected) {
        EXPECT_EQ(billed.count(cell) != 0 ? billed.at(cell) : -1, units)
            << std::get<0>(cell) << " " << std::get<1>(cell);
    }
    // Each report reached Stripe once: as many accepted events as reports sent in total.
    std::uint64_t sent_reports = 0;
    auto totals = reporter->all_totals();
    ASSERT_TRUE(totals) << totals.error();
    for (const auto& [key, sums] : *totals) {
        EXPECT_EQ(sums.decided, sums.sent) << key.tenant_id << "/" << key.meter;
        sent_reports += sums.reports;
    }
    EXPECT_EQ(fake_->events().size(), sent_reports);
    // The held answers were retried with the same key and answered from Stripe's idempotency
    // store: the case where a naive retry bills twice did happen.
    std::size_t replayed = 0;
    for (const auto& request : fake_->requests()) {
        replayed += request.idempotent_replayed ? 1 : 0;
    }
    EXPECT_GT(replayed, 0U);
}

TEST_F(BillingReporterTest, BreakerOpensAfterFiveFailuresAndClosesAfterThePause) {
    auto reporter = start();
    ASSERT_NE(reporter, nullptr);
    const ul::Period december{kDec2026, kJan2027};
    cells_.add(cell_key(1, false, december), 7 * kSecond, now_us_.load());
    fake_->fail_next(100, 503);
    for (int attempt = 0; attempt < 5; ++attempt) {
        EXPECT_EQ(reporter->breaker().state, ul::BreakerState::closed) << attempt;
        ASSERT_TRUE(reporter->run_once(true));
        advance(61 * kSecond);  // past any backoff (cap 30 s)
    }
    EXPECT_EQ(reporter->breaker().state, ul::BreakerState::open);
    EXPECT_EQ(reporter->breaker().consecutive_failures, 5);
    std::string metrics;
    reporter->append_metrics(metrics);
    EXPECT_NE(metrics.find("billing_breaker_open 1"), std::string::npos) << metrics;
    EXPECT_NE(reporter->breaker_json().find("\"state\":\"open\""), std::string::npos);
    // Open: nothing is sent for the pause, however often it runs.
    const auto requests = fake_->requests().size();
    for (int minute = 0; minute < 13; ++minute) {
        ASSERT_TRUE(reporter->run_once(true));
        advance(60 * kSecond);
    }
    EXPECT_EQ(fake_->requests().size(), requests);
    fake_->fail_next(0);
    advance(5 * 60 * kSecond);  // the 15 minutes are over: half-open, the trial succeeds
    ASSERT_TRUE(reporter->run_once(true));
    EXPECT_EQ(reporter->breaker().state, ul::BreakerState::closed);
    EXPECT_EQ(fake_->total("cus_1", "api_calls", 0, 1LL << 40), 7);
    metrics.clear();
    reporter->append_metrics(metrics);
    EXPECT_NE(metrics.find("billing_breaker_open 0"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("billing_breaker_opened_total 1"), std::string::npos) << metrics;
}

TEST_F(BillingReporterTest, LateEventsOfClosedPeriodsInsideTheWindowAndUnreportableBeyondIt) {
    now_us_ = kDec2026 + 30 * 60 * kSecond;  // November closed 30 minutes ago: in its grace
    auto reporter = start();
    ASSERT_NE(reporter, nullptr);
    const ul::Period november{kNov2026, kDec2026};
    cells_.add(cell_key(2, false, november), 12 * kSecond, kDec2026 - 10 * kSecond);
    ASSERT_TRUE(reporter->run_once(true));
    EXPECT_TRUE(fake_->events().empty()) << "reported inside the grace";
    advance(31 * 60 * kSecond);  // the grace is over: the final report, at November's last second
    ASSERT_TRUE(reporter->run_once(true));
    ASSERT_EQ(fake_->events().size(), 1U);
    EXPECT_EQ(fake_->events()[0].value, 12);
    EXPECT_EQ(fake_->events()[0].timestamp, kDec2026 / kSecond - 1);

    // A late event of November, a day later: one more report, still inside the period.
    advance(24 * 3600 * kSecond);
    cells_.add(cell_key(2, false, november), 3 * kSecond, kDec2026 - 5 * kSecond);
    ASSERT_TRUE(reporter->run_once(true));
    ASSERT_EQ(fake_->events().size(), 2U);
    EXPECT_EQ(fake_->events()[1].value, 3);
    EXPECT_EQ(fake_->events()[1].timestamp, kDec2026 / kSecond - 1);
    EXPECT_EQ(fake_->total("cus_2", "api_calls", kNov2026 / kSecond, kDec2026 / kSecond), 15);

    // October ended 40 days before now: Stripe would refuse it. Unreportable, kept, counted.
    now_us_ = kNov2026 + 40LL * 24 * 3600 * kSecond;
    const ul::Period october{kOct2026, kNov2026};
    cells_.add(cell_key(3, false, october), 4 * kSecond, kNov2026 - kSecond);
    ASSERT_TRUE(reporter->run_once(true));
    EXPECT_EQ(fake_->events().size(), 2U);
    EXPECT_EQ(reporter->metrics().reports_unreportable.load(), 1U);
    auto page = reporter->reports("tenant-3", "", 10);
    ASSERT_TRUE(page) << page.error();
    ASSERT_EQ(page->reports.size(), 1U);
    EXPECT_EQ(page->reports[0].status, "unreportable");
    EXPECT_EQ(page->reports[0].value, 4);
    EXPECT_NE(page->reports[0].last_error.find("35 days"), std::string::npos);
    const std::string json = ul::billing_report_json(page->reports[0]);
    EXPECT_NE(json.find("\"status\":\"unreportable\""), std::string::npos) << json;
    std::string metrics;
    reporter->append_metrics(metrics);
    EXPECT_NE(metrics.find("billing_reports_unreportable_total 1"), std::string::npos);
    // It is decided once: another round makes nothing new.
    ASSERT_TRUE(reporter->run_once(true));
    EXPECT_EQ(reporter->metrics().reports_decided.load(), 3U);
}

TEST_F(BillingReporterTest, APermanentRefusalIsFailedWithStripesBody) {
    auto reporter = start();
    ASSERT_NE(reporter, nullptr);
    const ul::Period december{kDec2026, kJan2027};
    BillingCellKey key = cell_key(4, false, december);
    key.event_name = "no_such_meter";  // the fake answers 400: no meter with this event name
    cells_.add(key, 2 * kSecond, now_us_.load());
    ASSERT_TRUE(reporter->run_once(true));
    auto page = reporter->reports("tenant-4", "", 10);
    ASSERT_TRUE(page) << page.error();
    ASSERT_EQ(page->reports.size(), 1U);
    EXPECT_EQ(page->reports[0].status, "failed");
    EXPECT_NE(page->reports[0].last_error.find("400"), std::string::npos)
        << page->reports[0].last_error;
    EXPECT_EQ(reporter->metrics().reports_failed.load(), 1U);
    EXPECT_EQ(reporter->metrics().pending.load(), 0);
    EXPECT_EQ(page->reports[0].last_error.find(kKey), std::string::npos);
}

}  // namespace
