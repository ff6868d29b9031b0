// `billing reconcile` against the fake Stripe over real sockets: a billing reporter (no worker,
// an injected clock, cells from memory) fills a real billing store and the fake; the store's
// totals are read as a secondary beside it, Stripe's meters and summaries through StripeClient,
// and reconcile_billing finds nothing when all agree, then Stripe's altered summary, a failed
// report and an event name without a meter. The built binary answers a bad data dir with exit 2
// and one line that never holds the key.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "projections/billing/billing_reconcile.h"
#include "projections/billing/billing_reporter.h"
#include "tests/fakes/fake_stripe.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::BillingCellKey;
using ul::BillingDifference;
using ul::Cell;
using ul::Decimal;
using ul::DecimalSum;

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kDec2026 = 1'796'083'200LL * kSecond;  // 2026-12-01T00:00:00Z
constexpr std::int64_t kJan2027 = 1'798'761'600LL * kSecond;  // 2027-01-01T00:00:00Z
const std::string kKey = "sk_test_reconcile_suite";

BillingCellKey key_of(const std::string& tenant, const std::string& customer,
                      const std::string& event_name) {
    return {tenant,
            "calls",
            customer,
            event_name,
            Decimal::from_micros(kSecond),
            ul::Period{kDec2026, kJan2027}};
}

class BillingReconcileTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ul::fakes::FakeStripeOptions options;
        options.secret_key = kKey;
        options.now_seconds = [this] { return now_us_ / kSecond; };
        auto fake = ul::fakes::FakeStripe::start(options);
        ASSERT_TRUE(fake) << fake.error();
        fake_ = std::move(fake).value();
        fake_->add_meter("mtr_api", "api_calls");
        add(key_of("acme", "cus_1", "api_calls"), 7);
        add(key_of("beta", "cus_1", "api_calls"), 3);    // the same customer: summed
        add(key_of("gamma", "cus_2", "llm_tokens"), 5);  // no meter: Stripe refuses (400)
    }

    void add(const BillingCellKey& key, std::int64_t units) {
        cells_[ul::billing_key(key)] = ul::cell_of(Decimal::from_micros(units * kSecond), now_us_);
        usage_.emplace_back(key, DecimalSum::from_micros(units * kSecond));
    }

    ul::StripeConfig stripe() const {
        ul::StripeConfig config;
        config.api_base = fake_->base_url();
        config.secret_key = kKey;
        config.timeout = 2s;
        return config;
    }

    // Runs the reporter until it has decided and sent everything, and keeps it open (the totals
    // are read beside it, as beside a running `up`).
    void report() {
        ul::BillingReporterOptions options;
        options.path = (dir_.path() / "billing").string();
        options.stripe = stripe();
        options.now_us = [this] { return now_us_; };
        options.worker = false;
        auto reporter = ul::BillingReporter::start(
            options, [this](const ul::BillingCellVisitor& visit) -> ul::Result<bool, std::string> {
                for (const auto& [bytes, cell] : cells_) {
                    if (!visit(bytes, cell)) {
                        break;
                    }
                }
                return true;
            });
        ASSERT_TRUE(reporter) << reporter.error();
        reporter_ = std::move(reporter).value();
        ASSERT_TRUE(reporter_->run_once(true));
        ASSERT_TRUE(reporter_->run_once());
    }

    ul::BillingReconcileReport reconcile() {
        auto totals = ul::BillingReporter::read_store_totals((dir_.path() / "billing").string());
        if (!totals) {
            ADD_FAILURE() << totals.error();
            return {};
        }
        const auto cells = ul::join_billing_cells(usage_, *totals);
        ul::BillingReconcileOptions options;
        options.now_s = now_us_ / kSecond;
        ul::StripeClient client(stripe());
        auto view = ul::read_stripe_view(client, cells, options);
        EXPECT_TRUE(view) << view.error();
        if (!view) {
            return {};
        }
        EXPECT_EQ(view->meters.at("api_calls"), "mtr_api");
        return ul::reconcile_billing(cells, view->totals, view->meters, options);
    }

    ul::test::TempDir dir_;
    std::int64_t now_us_ = kDec2026 + 14 * 86400 * kSecond;  // mid-December: the period is open
    std::unique_ptr<ul::fakes::FakeStripe> fake_;
    std::map<std::string, Cell> cells_;
    std::vector<std::pair<BillingCellKey, DecimalSum>> usage_;
    std::unique_ptr<ul::BillingReporter> reporter_;
};

TEST_F(BillingReconcileTest, FindsStripesAlteredSummaryFailedUnitsAndMissingMeters) {
    report();
    EXPECT_EQ(fake_->total("cus_1", "api_calls", kDec2026 / kSecond, kJan2027 / kSecond), 10);

    auto result = reconcile();
    EXPECT_EQ(result.cells, 3U);
    EXPECT_TRUE(result.pending.empty());
    // Only gamma differs: its event name has no meter, and its report was refused.
    ASSERT_EQ(result.differences.size(), 2U) << ul::billing_reconcile_json(result);
    EXPECT_EQ(result.differences[0].kind, BillingDifference::Kind::no_meter);
    EXPECT_EQ(result.differences[0].tenant_id, "gamma");
    EXPECT_EQ(result.differences[1].kind, BillingDifference::Kind::failed);
    EXPECT_EQ(result.differences[1].ours, 5);

    fake_->alter_summary("cus_1", "api_calls", 2);
    result = reconcile();
    ASSERT_EQ(result.differences.size(), 3U) << ul::billing_reconcile_json(result);
    const auto& stripe = result.differences[2];
    EXPECT_EQ(stripe.kind, BillingDifference::Kind::stripe);
    EXPECT_EQ(stripe.tenant_id, "acme,beta");
    EXPECT_EQ(stripe.ours, 10);
    EXPECT_EQ(stripe.theirs, 12);
    EXPECT_EQ(ul::describe(stripe),
              "stripe: tenant=acme,beta meter=calls customer=cus_1 event_name=api_calls "
              "period_start=2026-12-01T00:00:00Z: Stripe's summary total is 12, we sent 10 "
              "(summed over 2 cells)");
}

TEST_F(BillingReconcileTest, UsageNotReportedYetIsPendingWhileThePeriodIsOpen) {
    report();
    usage_[0].second = DecimalSum::from_micros(9 * kSecond);  // 2 more than reported
    const auto result = reconcile();
    ASSERT_EQ(result.pending.size(), 1U);
    EXPECT_EQ(result.pending[0].ours, 2);
    EXPECT_EQ(result.differences.size(), 2U);  // gamma's, as above
}

TEST_F(BillingReconcileTest, TheBinaryAnswersABadDataDirWithExitTwoAndOneLine) {
    const auto key_file = dir_.path() / "key";
    {
        std::FILE* file = std::fopen(key_file.c_str(), "w");
        ASSERT_NE(file, nullptr);
        std::fputs(kKey.c_str(), file);
        std::fclose(file);
    }
    ul::test::ChildProcess child(
        "billing-reconcile",
        {UL_BINARY, "billing", "reconcile", "--data-dir", (dir_.path() / "none").string(),
         "--stripe-api-base", fake_->base_url(), "--stripe-secret-key-file", key_file.string()},
        dir_.path());
    EXPECT_EQ(child.wait(60s), 2);
    const std::string error = child.stderr_text();
    EXPECT_NE(error.find("no projection store"), std::string::npos) << error;
    EXPECT_EQ(error.find(kKey), std::string::npos);
    EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << error;
}

}  // namespace
