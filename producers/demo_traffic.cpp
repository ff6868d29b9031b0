#include "producers/demo_traffic.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "schemas/account.h"
#include "schemas/time.h"

namespace ul {
namespace {

// A meter's pace: limit (or 10,000 units for an unlimited meter) over ticks_to_limit.
std::int64_t micros_per_tick(const MeterPlan& meter, std::uint32_t ticks) {
    const std::int64_t limit =
        meter.limit ? meter.limit->micros() : 10'000 * Decimal::kMicrosPerUnit;
    return std::max<std::int64_t>(1, limit / ticks);
}

// Midnight UTC of the first day of the month holding `now_us`.
std::int64_t month_start_utc_us(std::int64_t now_us) {
    const std::string text = format_rfc3339(now_us);  // YYYY-MM-DDTHH:MM:SS…Z
    auto start = parse_rfc3339(text.substr(0, 8) + "01T00:00:00Z");
    return start ? *start : now_us;
}

}  // namespace

std::vector<DemoTenant> demo_tenants(const PlanBook& plans) {
    std::vector<std::string> ids;
    for (const char* wanted : {"free", "pro", "enterprise"}) {
        if (plans.find(wanted) != nullptr) {
            ids.emplace_back(wanted);
        }
    }
    for (const auto& plan : plans.plans) {
        if (ids.size() >= 3) {
            break;
        }
        if (std::find(ids.begin(), ids.end(), plan.id) == ids.end()) {
            ids.push_back(plan.id);
        }
    }
    std::vector<DemoTenant> tenants;
    for (const auto& id : ids) {
        tenants.push_back(DemoTenant{"demo-" + id, id, "demo-" + id + "-key", 1, ""});
    }
    if (!ids.empty()) {
        // One more on the middle plan with a billing month anchored on the 15th in New York.
        const std::string& plan = ids[ids.size() / 2];
        tenants.push_back(DemoTenant{"demo-nyc", plan, "demo-nyc-key", 15, "America/New_York"});
    }
    return tenants;
}

Result<std::unique_ptr<DemoTraffic>, std::string> DemoTraffic::start(DemoOptions options,
                                                                     const PlanBook& plans) {
    std::unique_ptr<DemoTraffic> demo(new DemoTraffic());
    demo->options_ = std::move(options);
    demo->plans_ = plans;
    demo->tenants_ = demo_tenants(plans);
    if (demo->tenants_.empty()) {
        return unexpected(std::string("the plans file has no plans for the demo"));
    }
    // Accounts first, so the projections know each tenant's plan, calendar and key.
    {
        ProducerOptions account_options;
        account_options.bootstrap = demo->options_.bootstrap;
        account_options.topic = demo->options_.accounts_topic;
        auto accounts = UsageProducer::create(account_options);
        if (!accounts) {
            return unexpected(accounts.error());
        }
        for (const auto& tenant : demo->tenants_) {
            Account account;
            account.tenant_id = tenant.tenant_id;
            account.plan = tenant.plan;
            account.billing_anchor_day = tenant.billing_anchor_day;
            account.time_zone = tenant.time_zone;
            account.api_key_sha256 = sha256_hex(tenant.api_key);
            // Newer than any earlier demo's copy, so a restarted `up` publishes afresh.
            account.updated_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
            const auto record = signed_account_record(demo->options_.control_secret, account);
            if (auto queued =
                    (*accounts)->produce_raw(record.key, *record.value, record.headers, 1);
                !queued) {
                return unexpected("demo: cannot publish the account of " + tenant.tenant_id + ": " +
                                  queued.error().detail);
            }
        }
        if (auto flushed = (*accounts)->flush(30'000); !flushed || (*accounts)->failed() > 0) {
            return unexpected(std::string("demo: the accounts were not delivered"));
        }
    }
    ProducerOptions event_options;
    event_options.bootstrap = demo->options_.bootstrap;
    auto producer = UsageProducer::create(event_options);
    if (!producer) {
        return unexpected(producer.error());
    }
    demo->producer_ = std::move(producer).value();
    demo->thread_ = std::thread([raw = demo.get()] { raw->run(); });
    return demo;
}

DemoTraffic::~DemoTraffic() {
    stop();
}

void DemoTraffic::stop() {
    stop_.store(true);
    if (thread_.joinable()) {
        thread_.join();
    }
}

void DemoTraffic::run() {
    std::mt19937_64 random(options_.seed != 0 ? options_.seed : std::random_device{}());
    static const char* const kModels[] = {"gpt-x", "claude-z", "llama-q"};
    auto send = [&](const DemoTenant& tenant, const std::string& meter, std::int64_t micros,
                    std::int64_t timestamp_us = 0) {
        if (micros >= Decimal::kMicrosPerUnit) {
            micros -= micros % Decimal::kMicrosPerUnit;  // whole units when the pace allows
        }
        UsageRecord record;
        if (timestamp_us != 0) {
            record.timestamp = format_rfc3339(timestamp_us);
        }
        record.tenant_id = tenant.tenant_id;
        record.meter = meter;
        record.quantity = Decimal::from_micros(micros).to_string();
        record.subject = "user-" + std::to_string(random() % 50);
        record.string_properties.emplace_back("model", kModels[random() % 3]);
        auto queued = producer_->record(record, [](const DeliveryReport&) {});
        if (queued) {
            sent_.fetch_add(1);
        } else if (queued.error().code != ProduceErrorCode::queue_full) {
            spdlog::warn("demo: {}", queued.error().detail);
        }
    };
    // A head start: each tenant begins between 30 % and 75 % of each limit, so the bars differ,
    // spread over the last days of this month (UTC) so the daily charts have a history.
    constexpr std::int64_t kDay = 86'400'000'000LL;
    const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    const std::int64_t days_into_month =
        std::min<std::int64_t>(6, (now - month_start_utc_us(now)) / kDay);
    for (const auto& tenant : tenants_) {
        const Plan* plan = plans_.find(tenant.plan);
        for (const auto& meter : plan->meters) {
            const std::int64_t limit = micros_per_tick(meter, options_.ticks_to_limit) *
                                       static_cast<std::int64_t>(options_.ticks_to_limit);
            const auto share = static_cast<std::int64_t>(30 + random() % 46);
            const std::int64_t total = limit / 100 * share;
            for (std::int64_t day = days_into_month; day >= 0; --day) {
                send(tenant, meter.meter, total / (days_into_month + 1),
                     now - day * kDay - static_cast<std::int64_t>(random() % 3'600'000'000ULL));
            }
        }
    }
    spdlog::info("demo: {} tenants sending usage every {} ms", tenants_.size(),
                 options_.tick.count());
    while (!stop_.load()) {
        for (const auto& tenant : tenants_) {
            const Plan* plan = plans_.find(tenant.plan);
            for (const auto& meter : plan->meters) {
                // 50-150 % of the pace, in whole units when the pace allows.
                const std::int64_t micros = micros_per_tick(meter, options_.ticks_to_limit) *
                                            static_cast<std::int64_t>(50 + random() % 101) / 100;
                if (micros >= Decimal::kMicrosPerUnit) {
                    send(tenant, meter.meter, micros);
                } else if (static_cast<std::int64_t>(random() % Decimal::kMicrosPerUnit) < micros) {
                    send(tenant, meter.meter, Decimal::kMicrosPerUnit);  // one unit, as often
                }
            }
        }
        producer_->poll(0);
        std::this_thread::sleep_for(options_.tick);
    }
    (void)producer_->flush(5'000);
}

}  // namespace ul
