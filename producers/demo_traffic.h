// Demo traffic for `usage-ledger up --demo`: a few tenants on different plans (accounts
// published to usage.accounts, each with an API key, signed with the control-plane secret),
// then usage events at a pace that moves every bar visibly and carries each tenant across the
// 80 / 95 / 100 % thresholds within a few minutes. Events go through UsageProducer like any
// service's would.
// Threading: start() spawns one thread; stop() (or the destructor) joins it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "producers/usage_producer.h"
#include "schemas/plans.h"
#include "schemas/result.h"

namespace ul {

struct DemoTenant {
    std::string tenant_id;
    std::string plan;
    std::string api_key;  // clear text, for the printed example; accounts carry its SHA-256
    int billing_anchor_day = 1;
    std::string time_zone;  // empty: UTC
};

struct DemoOptions {
    std::string bootstrap;
    std::string accounts_topic = "usage.accounts";
    std::string control_secret;  // signs the accounts (schemas/account.h)
    std::chrono::milliseconds tick{250};
    // Ticks to go from the starting level to 120 % of a limit (~5 minutes at 250 ms).
    std::uint32_t ticks_to_limit = 1'200;
    std::uint64_t seed = 0;  // 0: random
};

// The tenants the demo uses with plans of `plans` (free / pro / enterprise when present, else
// the first plans of the file).
std::vector<DemoTenant> demo_tenants(const PlanBook& plans);

class DemoTraffic {
  public:
    // Publishes the accounts (waits for their delivery), then starts the traffic thread.
    static Result<std::unique_ptr<DemoTraffic>, std::string> start(DemoOptions options,
                                                                   const PlanBook& plans);
    ~DemoTraffic();
    DemoTraffic(const DemoTraffic&) = delete;
    DemoTraffic& operator=(const DemoTraffic&) = delete;
    void stop();
    const std::vector<DemoTenant>& tenants() const { return tenants_; }
    std::uint64_t sent() const { return sent_.load(); }

  private:
    DemoTraffic() = default;
    void run();

    DemoOptions options_;
    PlanBook plans_;
    std::vector<DemoTenant> tenants_;
    std::unique_ptr<UsageProducer> producer_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> sent_{0};
    std::thread thread_;
};

}  // namespace ul
