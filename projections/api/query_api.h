// The query API of DESIGN's table, on an HttpServer: health, readiness, Prometheus metrics,
// usage, history, entitlements, alerts, billing, admin tenants and the dashboard page. Reads the
// projection store (RocksDB reads are thread-safe beside the writer) and the projection
// service's accounts; the plans come from the plans file. Bearer keys: the admin keys given
// here, and each tenant's key as its account's api_key_sha256. Per-key token bucket → 429;
// failed authentications per client address → 429 once 10 are spent.
// Handlers run on the server's threads; everything they touch is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "consumers/dead_letters.h"
#include "ledger/ledger_metrics.h"
#include "projections/alerts/alert_delivery.h"
#include "projections/api/api_keys.h"
#include "projections/api/health.h"
#include "projections/api/http_server.h"
#include "projections/api/ingest.h"
#include "projections/api/jobs.h"
#include "projections/api/rate_limit.h"
#include "projections/billing/billing_reporter.h"
#include "projections/counters/projection_service.h"
#include "schemas/plans.h"

namespace ul {

struct QueryApiOptions {
    std::vector<std::string> admin_keys;
    RateLimitOptions rate_limit;  // per key, every keyed route (whoami too)
    // Failed authentications per client (peer address): 10, then one a second.
    RateLimitOptions failed_auth_rate_limit{.requests_per_second = 1, .burst = 10};
    std::int64_t ready_lag_bound = 10'000;  // /readyz: ready when the lag is at most this
    std::size_t max_history_points = 2'000;
    std::function<std::int64_t()> now_us;
    const LedgerMetrics* ledger_metrics = nullptr;  // when the ledger runs in this process
    Ingest* ingest = nullptr;                       // POST /v1/events; nullptr: 503
    Jobs* jobs = nullptr;                           // /v1/admin/jobs; nullptr: 503
    const ComponentHealth* health = nullptr;        // parts of this process that stopped
    // The pre-flight check for a meter the tenant's plan does not list: refused (allowed false,
    // error unknown_meter: a typo or a meter not sold must not pass unmetered) unless this is
    // true (allowed, unlimited: the old fail-open answer). `--unknown-meters deny|allow`.
    bool allow_unknown_meters = false;
    // Alerts' delivery states and logs (alert_routes.cpp); nullptr: alerts are listed without.
    AlertDelivery* alerts = nullptr;
    // Publishes an account version to usage.accounts, signed, and waits for the broker's
    // acknowledgement (the alert-rule routes); empty: those routes answer 503.
    std::function<Result<bool, std::string>(const Account&)> publish_account;
    // Publishes the tenant's signed tombstone (deleted at the time given, µs) and waits for the
    // broker; empty: DELETE /v1/admin/accounts/{tenant} answers 503.
    std::function<Result<bool, std::string>(const std::string& tenant, std::int64_t deleted_at_us)>
        publish_tombstone;
    // Stripe billing (billing_routes.cpp): the report log, checkout and portal; nullptr: those
    // routes answer 404 billing_off.
    BillingReporter* billing = nullptr;
    // GET /v1/admin/dead-letters: reads a page of usage.events.dlq (consumers/dead_letters.h);
    // empty: that route answers 503.
    std::function<Result<DeadLetterPage, std::string>(const DeadLetterQuery&)> read_dead_letters;
};

// What the query API counts about its own answers, for /metrics: questions about tenants
// without an account and meters their plan does not list (answered, but worth knowing: a typo
// in a client, or a meter sold nowhere). Thread-safe (relaxed atomics).
struct QueryProbe {
    std::atomic<std::uint64_t> unknown_tenant_total{0};  // usage / entitlement, no account
    std::atomic<std::uint64_t> unknown_meter_total{0};   // meter entries / checks not in the plan
    std::atomic<std::uint64_t> unknown_plan_total{0};    // accounts naming a plan not in the file
    void append_metrics(std::string& out) const;
};

// The plan a tenant is served on. A tenant without an account gets the default plan; so does an
// account naming a plan the plans file lacks (written with another plans file), and the answer
// says both.
struct ServedPlan {
    const Plan* plan = nullptr;  // never null: the default plan at least
    std::string plan_id;         // the plan served
    bool account_known = false;  // the tenant has an account
    bool plan_known = true;      // false: the account's plan is not in the plans file
    std::string account_plan;    // the account's plan (empty without an account)
};

class QueryApi {
  public:
    QueryApi(QueryApiOptions options, PlanBook plans, const ProjectionService& projections);
    // Adds every route to `server` (before traffic starts).
    void install(HttpServer& server);
    // Re-reads tenant keys from the accounts (call when accounts change; cheap).
    void refresh_keys();

  private:
    HttpResponse healthz() const;
    HttpResponse readyz() const;
    HttpResponse metrics() const;
    HttpResponse usage(const HttpRequest& request, const std::string& tenant) const;
    HttpResponse history(const HttpRequest& request, const std::string& tenant) const;
    // GET /v1/tenants/{t}/leases: the leases the projection holds that have not expired.
    HttpResponse leases(const std::string& tenant) const;
    // GET /v1/admin/dead-letters?reason=&tenant=&limit=&cursor=
    HttpResponse dead_letters(const HttpRequest& request) const;
    // GET /v1/tenants/{t}/credits: the wallet as of now (the month's allowance rolled, expired
    // grants dropped), grants in burn order, the recent transactions newest first.
    HttpResponse credits(const std::string& tenant) const;
    HttpResponse entitlement(const HttpRequest& request, const std::string& tenant,
                             const std::string& meter) const;
    HttpResponse admin_tenants(const HttpRequest& request) const;
    HttpResponse submit_job(const HttpRequest& request, std::string_view kind);
    HttpResponse list_jobs(const HttpRequest& request) const;
    void install_jobs(HttpServer& server);
    // A tenant route: an admin key, or a key of that tenant with `scope` (0: by the method, GET
    // read, others admin) (authorize(): 401/403/400/429), then `handler` with the tenant id and
    // the path parameters.
    using TenantHandler = std::function<HttpResponse(const HttpRequest&, const std::string& tenant,
                                                     const std::map<std::string, std::string>&)>;
    void tenant_route(HttpServer& server, std::string method, std::string pattern,
                      TenantHandler handler, std::uint8_t scope = 0);
    // An asynchronous tenant route that hands one event to the ledger of this process through
    // Ingest (consume, leases, grants): authorized as tenant_route (an admin key only with
    // `admin_only`), 503 ingest_unavailable without Ingest, then `handler`.
    using IngestHandler = std::function<void(Ingest&, const HttpRequest&, const std::string& tenant,
                                             const std::map<std::string, std::string>&, HttpReply)>;
    void ingest_route(HttpServer& server, std::string method, const std::string& pattern,
                      bool admin_only, IngestHandler handler);
    // billing_routes.cpp
    void install_billing(HttpServer& server);
    HttpResponse billing_log(const HttpRequest& request, const std::string& tenant) const;
    HttpResponse billing_checkout(const HttpRequest& request, const std::string& tenant);
    HttpResponse billing_portal(const HttpRequest& request, const std::string& tenant);
    // alert_routes.cpp
    void install_alerts(HttpServer& server);
    HttpResponse list_alerts(const HttpRequest& request, const std::string& tenant) const;
    HttpResponse alert_deliveries(const std::string& tenant, const std::string& id) const;
    HttpResponse redeliver_alert(const std::string& tenant, const std::string& id);
    HttpResponse alert_rules(const std::string& tenant) const;
    // Adds `add` (not null) or removes the rule `remove`: a new account version from now.
    HttpResponse change_alert_rules(const std::string& tenant, const AlertRule* add,
                                    const std::string& remove);
    // account_routes.cpp: accounts (admin keys) and a tenant's keys.
    void install_accounts(HttpServer& server);
    HttpResponse list_accounts(const HttpRequest& request) const;
    HttpResponse put_account(const HttpRequest& request, const std::string& tenant);
    HttpResponse delete_account(const std::string& tenant);
    HttpResponse list_keys(const std::string& tenant) const;
    HttpResponse create_key(const HttpRequest& request, const std::string& tenant);
    HttpResponse revoke_key(const std::string& tenant, const std::string& id);
    // A new version of the tenant's account: the current one (existing: 404 without one;
    // create_or_edit: the default plan when there is none) changed by `edit` (its answer, if
    // any, is returned instead and nothing is published), from now; replace: `edit` replaces it,
    // its own effective_at kept. Edits refuse (409) while a scheduled version is pending, except
    // replace. The plan must be in this server's plans file (409). Published, then awaited until
    // this process holds it. One change at a time per process.
    enum class AccountChangeMode : std::uint8_t { existing, create_or_edit, replace };
    using AccountEdit = std::function<std::optional<HttpResponse>(Account&, std::int64_t now_us)>;
    Result<Account, HttpResponse> change_account(const std::string& tenant, AccountChangeMode mode,
                                                 const AccountEdit& edit);
    // The key's principal, or the answer: 401 for an unknown key (429 once its client, the peer
    // address, has failed too often: failed_auth_rate_limit), 429 when the key's bucket is empty.
    Result<ApiPrincipal, HttpResponse> identify(const HttpRequest& request);
    // nullopt: allowed; else the 401/403/429 answer. `tenant` null: an admin route (server admin
    // keys only); else a key of that tenant with `scope`, or an admin key.
    std::optional<HttpResponse> authorize(const HttpRequest& request, const std::string* tenant,
                                          std::uint8_t scope = kScopeRead);
    const Plan* plan_of(const std::string& tenant, std::string* plan_id) const;
    // plan_of with what it had to assume; `count`: add an unknown tenant or plan to the probe
    // (the answers about one tenant do; the admin listing does not).
    ServedPlan served_plan(const std::string& tenant, bool count) const;
    BillingCalendar calendar_at(const std::string& tenant, std::int64_t time_us) const;
    void append_as_of(std::string& out) const;

    QueryApiOptions options_;
    const HttpServer* server_ = nullptr;  // install()'s: its connection figures for /metrics
    PlanBook plans_;
    const ProjectionService& projections_;
    ApiKeys keys_;
    std::atomic<std::uint64_t> keys_version_{~0ULL};  // accounts version the tenant keys match
    std::mutex keys_rebuild_mutex_;
    std::mutex account_changes_mutex_;  // change_account(), delete_account()
    RateLimiter limiter_;
    RateLimiter failed_auth_limiter_;
    mutable QueryProbe probe_;
};

}  // namespace ul
