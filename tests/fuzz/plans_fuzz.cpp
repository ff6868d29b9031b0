// Fuzzes the plans file parser (schemas/plans.h): parse_plans on the bytes as JSON text.
// Invariants on a parsed book: each plan is found by its id, each meter by its name, the
// default plan exists, and thresholds ascend.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "schemas/plans.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto book = ul::parse_plans(text);
    if (!book) {
        FUZZ_CHECK(!book.error().empty(), "a refused plans file has a detail");
        return 0;
    }
    FUZZ_CHECK(book->find(book->default_plan) != nullptr, "the default plan is not a plan");
    for (const ul::Plan& plan : book->plans) {
        FUZZ_CHECK(book->find(plan.id) != nullptr, "a plan is not found by its id");
        for (const ul::MeterPlan& meter : plan.meters) {
            FUZZ_CHECK(plan.find(meter.meter) != nullptr, "a meter is not found by its name");
            for (std::size_t index = 1; index < meter.thresholds.size(); ++index) {
                FUZZ_CHECK(meter.thresholds[index - 1] < meter.thresholds[index],
                           "thresholds do not ascend");
            }
            FUZZ_CHECK(!meter.hard || meter.limit.has_value(), "a hard meter has no limit");
        }
        if (!plan.stripe_price_id.empty()) {
            FUZZ_CHECK(book->find_by_stripe_price(plan.stripe_price_id) == &plan,
                       "two plans share a stripe_price_id");
        }
    }
    return 0;
}
