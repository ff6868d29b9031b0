// A fake Stripe for tests: a real HTTP/1.1 server on 127.0.0.1 (Boost.Beast over Asio, one
// thread of its own) that answers the few endpoints usage-ledger calls and checks what Stripe
// checks (auth, form bodies, meter event fields, the timestamp window, identifier uniqueness,
// idempotency keys), with knobs for the failures a client must survive: 5xx, 429 + Retry-After,
// an answer that never comes after the event was recorded, a closed port. See README.md.
//
// Threading: every public method is thread-safe (one mutex guards the state; the server thread
// takes it per request). Lifecycle: start() binds and serves at once; the destructor stops the
// thread, closes every connection and joins. Ownership: the fake owns its sockets and thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "schemas/result.h"

namespace ul::fakes {

struct FakeStripeOptions {
    // Requests must carry "Authorization: Bearer <key>" (or Basic with the key as user name),
    // else 401 {"error":{"type":"invalid_request_error","message":…}}.
    std::string secret_key = "sk_test_fake";
    // The fake's clock (unix seconds): `created`, the default timestamp and the accepted window.
    // Empty: the real clock.
    std::function<std::int64_t()> now_seconds;
    std::uint64_t seed = 1;  // for set_failure_rate; start() logs it on stderr
    std::uint16_t port = 0;  // 0: any free port
};

struct MeterEvent {
    std::string event_name;
    std::string customer;
    std::string identifier;  // as given, or "fake_evt_<n>" when the request had none
    std::int64_t value = 0;
    std::int64_t timestamp = 0;
    std::int64_t created = 0;  // the fake clock when it was accepted
};

struct RecordedRequest {
    std::string method;
    std::string target;  // path and query, as sent
    std::string authorization;
    std::string idempotency_key;
    std::string stripe_version;
    std::string content_type;
    std::string body;
    int status = 0;  // the status answered; 0 when no answer was sent (hang_after_record_next)
    bool idempotent_replayed = false;  // answered from the idempotency store
};

class FakeStripe {
  public:
    // Binds 127.0.0.1:<options.port> and starts serving; an error names the address.
    static Result<std::unique_ptr<FakeStripe>, std::string> start(FakeStripeOptions options);
    ~FakeStripe();  // stops, closes every connection, joins
    FakeStripe(const FakeStripe&) = delete;
    FakeStripe& operator=(const FakeStripe&) = delete;

    std::string base_url() const;  // "http://127.0.0.1:<port>"
    std::string address() const;   // "127.0.0.1:<port>"
    std::uint16_t port() const;

    // Fault injection, all on POST /v1/billing/meter_events only, applied after the auth check
    // and before the idempotency store (an injected failure is not saved under the key, so a
    // retry with the same key is executed). Order: rate_limit_next, fail_next, failure rate.
    void fail_next(int count, int status = 500);  // answer `status`, record nothing
    void set_failure_rate(double fraction);  // each POST fails 500 with this probability (seeded)
    void rate_limit_next(int count, int retry_after_seconds);  // 429 + Retry-After, not recorded
    // The next `count` meter-event POSTs that record an event: record it (and save the answer
    // under the idempotency key, if any), then hold the connection without answering for `hold`,
    // then close it. The client times out; a retry with the same key gets the replay.
    void hang_after_record_next(int count, std::chrono::milliseconds hold);
    // Down: the listening socket and every open connection are closed (connection refused).
    // Up again: listens on the SAME port. Blocks until done; never call from the server thread.
    void set_down(bool down);

    std::vector<MeterEvent> events() const;         // accepted meter events, in order
    std::vector<RecordedRequest> requests() const;  // every request received, in order
    // (customer, event_name) -> sum of accepted values.
    std::map<std::tuple<std::string, std::string>, std::int64_t> totals() const;
    // The same for events with start_seconds <= timestamp < end_seconds.
    std::int64_t total(const std::string& customer, const std::string& event_name,
                       std::int64_t start_seconds, std::int64_t end_seconds) const;

    // A meter GET /v1/billing/meters lists; meter events must name a known event_name (else 400).
    void add_meter(std::string id, std::string event_name);
    // Reconciliation tests: event summaries for (customer, event_name) report `delta` more than
    // was recorded — in every window, or (with `timestamp`) in windows that hold it.
    void alter_summary(std::string customer, std::string event_name, std::int64_t delta);
    void alter_summary(std::string customer, std::string event_name, std::int64_t delta,
                       std::int64_t timestamp);

    // Sessions created: every form parameter as sent, plus "id" and "url".
    std::vector<std::map<std::string, std::string>> checkout_sessions() const;
    std::vector<std::map<std::string, std::string>> portal_sessions() const;

    struct Impl;

  private:
    FakeStripe() = default;
    std::unique_ptr<Impl> impl_;
};

// application/x-www-form-urlencoded: pairs in order, percent-decoded, '+' as space; bracketed
// keys stay literal names ("payload[value]"). Error on a malformed escape.
Result<std::vector<std::pair<std::string, std::string>>, std::string> parse_form(
    std::string_view body);

}  // namespace ul::fakes
