// HTTP ingest, POST /v1/events: one event object, a JSON array, or NDJSON
// (Content-Type: application/x-ndjson). Every event is validated as the ledger will (invalid ones
// are reported by index and never sent); a tenant key may send only its own tenant's events
// (403, nothing sent). Valid events go to usage.events through UsageProducer (idempotent,
// acks=all). With ?wait=acknowledged it answers 202 once Kafka acknowledged every event:
// {"durability":"kafka","events":[{"index","status":"queued"|"invalid","error"?}]}. With
// ?wait=committed (needs the ledger in this process: `up`, where it is the default) it answers
// 200 after the ledger committed each one: {"durability":"ledger","events":[…]} with each
// verdict accepted / duplicate / conflict / invalid and its ledger position.
// Limits: more than `max_events_per_request` events → 413 {"error":"too_many_events",…} before
// anything is validated or sent (so an answer, one entry per event, stays proportional to a
// bounded request); when every event is invalid nothing is sent and the answer is 400
// {"error":"invalid_events","detail","events":[…each error…]}, never 202 / 200.
// Threading: handle() on any HTTP thread; replies come from the producer's polling thread or
// the ledger thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ledger/commit_waiter.h"
#include "producers/usage_producer.h"
#include "producers/uuid.h"
#include "projections/api/health.h"
#include "projections/api/http_server.h"
#include "schemas/event.h"
#include "schemas/plans.h"

namespace ul {

struct IngestOptions {
    std::string bootstrap;
    std::string topic = "usage.events";
    ValidationOptions validation;  // the ledger's (strictness, --max-event-age)
    std::function<std::int64_t()> now_us;
    CommitWaiter* commit_waiter = nullptr;  // nullptr: ?wait=committed is refused (400)
    // Without ?wait=, wait for the ledger's commit (true in `up`, where the embedded broker
    // keeps events in memory only) or for Kafka's acknowledgement.
    bool wait_committed_by_default = false;
    kafka::Properties kafka_settings;  // connection settings (SASL, TLS)
    // While the ledger of this process is down, events are refused (503), never queued.
    const ComponentHealth* health = nullptr;
    std::chrono::seconds commit_timeout{30};
    std::size_t max_events_per_request = 10'000;
};

class Ingest {
  public:
    static Result<std::unique_ptr<Ingest>, std::string> start(IngestOptions options);
    ~Ingest();
    Ingest(const Ingest&) = delete;
    Ingest& operator=(const Ingest&) = delete;

    // `tenant`: the caller's tenant, or empty for an admin (any tenant).
    void handle(const HttpRequest& request, const std::string& tenant, HttpReply reply);

    // POST /v1/tenants/{tenant}/consume: check-and-consume one event of `tenant` (the caller
    // was authorized for it), decided by the ledger (hard limits: ledger/limits.h). Body:
    // {"meter","quantity","idempotency_key"?,"subject"?,"properties"?,"timestamp"?} (a key is
    // made, UUIDv7, when absent; the timestamp defaults to now). Waits for the ledger's verdict
    // (needs the ledger in this process) and answers:
    //   200
    //   {"status":"accepted","idempotency_key","meter","enforcement","used","limit","remaining"}
    //   429 {"error":"quota_exceeded","idempotency_key","meter","plan","limit","used","remaining"}
    //       with Retry-After: the seconds until the period's end
    //   200 {"status":"duplicate","first_verdict":"accepted"|"rejected_limit","payload_matches",…}
    //       for a retried key (payload_matches false: the first event with the key differed, e.g.
    //       in its timestamp, which defaults to now; the ledger counts that as a conflict)
    //   400 invalid, 503 / 504 as ingest.
    // used / limit / remaining are the ledger's exact totals for a hard-limited meter, null for
    // a soft one ("enforcement":"soft"; its usage is in GET …/usage). `plan`: the tenant's plan
    // id, named in the 429.
    void consume(const HttpRequest& request, const std::string& tenant, const std::string& plan,
                 HttpReply reply);

    // Leases on a concurrency meter of `plan` (schemas/lease.h; decided by the ledger,
    // ledger/limits.h decide_leases). Need the ledger in this process, as consume.
    // POST /v1/tenants/{tenant}/leases {"meter","ttl"?:"15m","slots"?:"1","idempotency_key"?}:
    //   201 {"status":"acquired","lease_id","meter","slots","expires_at","held","limit"}
    //   200 {"status":"duplicate","lease_id","meter","first_verdict":"acquired"} for a retried key
    //   429 {"error":"concurrency_limit_reached","lease_id","meter","plan","held","limit"} with
    //       Retry-After: the seconds until the earliest held lease expires (also for a retried
    //       key whose first verdict was a refusal)
    //   400 bad body, a meter that is not a concurrency meter of the plan, a bad ttl.
    // The lease id is "<meter>:<idempotency key>" (the key is made, UUIDv7, when absent).
    void acquire_lease(const HttpRequest& request, const std::string& tenant,
                       const std::string& plan_id, const Plan* plan, HttpReply reply);
    // DELETE /v1/tenants/{tenant}/leases/{lease_id}: 204 when the lease was held (or the same
    // release was made before), 404 lease_not_found when it was not (released, expired, never).
    void release_lease(const std::string& tenant, const std::string& lease_id, const Plan* plan,
                       HttpReply reply);

    // POST /v1/tenants/{tenant}/credits/grants (an admin call): {"amount","idempotency_key",
    // "source"?,"priority"?,"expires_at"?} becomes a credits.grant event (schemas/wallet.h),
    // decided by the ledger: 201 {"status":"granted","grant_id","amount","balance"}, 200
    // {"status":"duplicate",…} for a retried key, 400 for a bad body or grant.
    void grant_credits(const HttpRequest& request, const std::string& tenant, HttpReply reply);

    struct Request;  // one HTTP request's events in flight

  private:
    Ingest() = default;
    // Validates the request's event texts, sends the valid ones and arranges the answer.
    void submit(const std::shared_ptr<Request>& request, const std::vector<std::string_view>& texts,
                const std::string& tenant);
    // The ledger of this process stopped: true after replying 503 (nothing is sent).
    bool refused_while_ledger_down(const std::shared_ptr<Request>& request);
    // A request for one event the ledger decides (consume, leases, grants), or nullptr after
    // replying 503 when the ledger of this process cannot decide now (`what` names the route).
    std::shared_ptr<Request> decided_request(HttpReply reply, std::string_view what);
    // The ledger of this process can decide now: false after replying 503.
    bool ledger_can_decide(const std::shared_ptr<Request>& request, std::string_view what);
    void delivered(const DeliveryReport& report);
    void poll_loop();

    IngestOptions options_;
    std::unique_ptr<UsageProducer> producer_;
    std::mutex validator_mutex_;
    std::unique_ptr<EventValidator> validator_;
    std::mutex pending_mutex_;
    std::map<std::uint64_t, std::pair<std::shared_ptr<Request>, std::size_t>> pending_;
    std::vector<std::shared_ptr<Request>> waiting_;  // wait=committed, for their deadlines
    std::atomic<std::uint64_t> next_token_{1};
    std::mutex uuid_mutex_;
    UuidV7Generator uuids_;
    std::atomic<bool> stop_{false};
    std::thread poller_;
};

}  // namespace ul
