// stripe-shapes --api-base URL [--secret-key KEY]: calls every StripeClient request once
// (create_meter_event, list_meters, meter_event_summaries, create_checkout_session,
// create_portal_session) and exits 1, printing the answer, on the first non-2xx. Against
// stripe-mock, which validates each request's parameters against Stripe's OpenAPI spec, a 2xx
// means the request's shape (path, method, form fields) is one Stripe accepts.
#include <cstdio>
#include <cstring>
#include <string>

#include "projections/billing/stripe_client.h"

namespace {

int fail(const char* what, const ul::StripeResponse& response) {
    std::fprintf(stderr, "stripe-shapes: %s failed: %s\n%s\n", what, response.describe().c_str(),
                 response.body.c_str());
    return 1;
}

void passed(const char* what, const std::string& detail) {
    std::printf("ok %s %s\n", what, detail.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    ul::StripeConfig config;
    config.secret_key = "sk_test_123";
    for (int index = 1; index + 1 < argc; index += 2) {
        if (std::strcmp(argv[index], "--api-base") == 0) {
            config.api_base = argv[index + 1];
        } else if (std::strcmp(argv[index], "--secret-key") == 0) {
            config.secret_key = argv[index + 1];
        } else {
            std::fprintf(stderr, "usage: stripe-shapes --api-base URL [--secret-key KEY]\n");
            return 2;
        }
    }
    ul::StripeClient client(config);

    const auto event = client.create_meter_event("api_calls", "cus_shapes", 42, "ev-shapes-1",
                                                 1'700'000'000, "idem-shapes-1");
    if (event.verdict != ul::StripeVerdict::ok) {
        return fail("create_meter_event", event);
    }
    passed("create_meter_event", "HTTP " + std::to_string(event.status));

    const auto meters = client.list_meters();
    if (!meters) {
        return fail("list_meters", meters.error());
    }
    passed("list_meters", std::to_string(meters->size()) + " meter(s)");

    const std::string meter_id = meters->empty() ? "mtr_shapes" : meters->front().id;
    const auto summaries =
        client.meter_event_summaries(meter_id, "cus_shapes", 1'699'999'980, 1'700'003'580);
    if (!summaries) {
        return fail("meter_event_summaries", summaries.error());
    }
    passed("meter_event_summaries", "total " + std::to_string(summaries->total));

    const auto checkout = client.create_checkout_session(
        "price_shapes", "tenant-acme", std::string("cus_shapes"),
        "https://example.com/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "https://example.com/billing/cancel", "idem-shapes-checkout");
    if (!checkout) {
        return fail("create_checkout_session", checkout.error());
    }
    passed("create_checkout_session", checkout->id);

    const auto portal =
        client.create_portal_session("cus_shapes", "https://example.com/billing", "");
    if (!portal) {
        return fail("create_portal_session", portal.error());
    }
    passed("create_portal_session", portal->id);
    return 0;
}
