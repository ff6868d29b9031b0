// POST /v1/events against `usage-ledger up` (broker, ledger, projections and API in one
// process, over real sockets): ?wait=committed (up's default) answers each event's ledger verdict
// after the commit — accepted, then duplicate for the same event, conflict for the same key with
// another payload; ?wait=acknowledged answers 202 once Kafka acknowledged; every answer says its
// durability ("ledger" or "kafka"); NDJSON and arrays; invalid events
// reported by index and never sent; a tenant key cannot send another tenant's events.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::http_request;
using ul::test::TempDir;

constexpr char kAdmin[] = "ingest-admin";

bool has(const std::string& body, const std::string& part) {
    return body.find(part) != std::string::npos;
}

std::string event(const std::string& key, const std::string& tenant, const std::string& quantity,
                  const std::string& when) {
    return R"({"idempotency_key":")" + key + R"(","tenant_id":")" + tenant +
           R"(","meter":"tokens","quantity":)" + quantity + R"(,"timestamp":")" + when + "\"}";
}

ul::test::HttpReply post(const std::string& address, const std::string& target,
                         const std::string& key, const std::string& body,
                         const std::string& content_type = "application/json") {
    return http_request(address, "POST", target,
                        {{"Authorization", "Bearer " + key}, {"Content-Type", content_type}}, body);
}

TEST(Ingest, WaitCommittedAnswersEachVerdictAndTheDefaultAnswersOnceQueued) {
    TempDir dir;
    const std::string data_dir = (dir.path() / "data").string();
    ChildProcess up(
        "up",
        {UL_BINARY, "up", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--admin-key", kAdmin},
        dir.path());
    const std::string address = ul::test::wait_for_match(
        [&] { return up.stdout_text(); }, "dashboard: +http://([0-9.]+:[0-9]+)/", 60s);
    ASSERT_FALSE(address.empty()) << up.stdout_text() << up.stderr_text();
    ChildProcess account("account",
                         {UL_BINARY, "account", "set", "--bootstrap-file", data_dir + "/bootstrap",
                          "--tenant", "acme", "--plan", "pro", "--api-key", "acme-key"},
                         dir.path());
    ASSERT_EQ(account.wait(60s), std::optional<int>(0)) << account.stderr_text();
    // Known once the admin list shows its account (polling with acme-key before that would be
    // failed authentications, which are rate-limited per client).
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            return has(http_get(address, "/v1/admin/tenants", kAdmin).body,
                       R"("tenant_id":"acme","plan":"pro")");
        },
        60s));
    ASSERT_EQ(http_get(address, "/v1/whoami", "acme-key").status, 200);

    const std::string when = ul::test::utc_now_rfc3339();
    const std::string first = event("req-1", "acme", "1500", when);
    auto accepted = post(address, "/v1/events?wait=committed", kAdmin, first);
    EXPECT_EQ(accepted.status, 200) << accepted.body;
    EXPECT_TRUE(
        has(accepted.body,
            R"({"durability":"ledger","events":[{"index":0,"status":"accepted","ledger_partition":)"))
        << accepted.body;
    // The same event again: a duplicate of the entry that was accepted.
    auto duplicate = post(address, "/v1/events?wait=committed", "acme-key", first);
    EXPECT_EQ(duplicate.status, 200) << duplicate.body;
    EXPECT_TRUE(has(duplicate.body, R"("status":"duplicate")")) << duplicate.body;
    const auto position = accepted.body.substr(accepted.body.find("\"ledger_partition\""));
    EXPECT_TRUE(has(duplicate.body, position)) << duplicate.body << " vs " << position;
    // The same key with another quantity: a conflict.
    auto conflict = post(address, "/v1/events?wait=committed", "acme-key",
                         event("req-1", "acme", "1600", when));
    EXPECT_TRUE(has(conflict.body, R"("status":"conflict")")) << conflict.body;
    // The accepted event is visible in the usage API.
    EXPECT_TRUE(ul::test::wait_until(
        [&] {
            return has(http_get(address, "/v1/tenants/acme/usage", "acme-key").body,
                       R"({"meter":"tokens","used":"1500","count":1,)");
        },
        30s))
        << http_get(address, "/v1/tenants/acme/usage", "acme-key").body;

    // NDJSON, wait=acknowledged: 202 once Kafka acknowledged (durability "kafka": up's broker
    // keeps it in memory only); the bad line is reported, not sent.
    const std::string ndjson = event("req-2", "acme", "1", when) + "\n" +
                               event("req-3", "acme", "-5", when) + "\n\n" +
                               event("req-4", "acme", "2", when) + "\n";
    auto queued = post(address, "/v1/events?wait=acknowledged", "acme-key", ndjson,
                       "application/x-ndjson");
    EXPECT_EQ(queued.status, 202) << queued.body;
    EXPECT_TRUE(has(queued.body, R"({"durability":"kafka","events":[)")) << queued.body;
    EXPECT_TRUE(has(queued.body, R"({"index":0,"status":"queued","partition":)")) << queued.body;
    EXPECT_TRUE(has(queued.body, R"({"index":1,"status":"invalid","error":"bad_quantity: )"))
        << queued.body;
    EXPECT_TRUE(has(queued.body, R"({"index":2,"status":"queued","partition":)")) << queued.body;
    // An array, without ?wait=: in up that waits for the ledger (durability "ledger").
    auto array = post(
        address, "/v1/events", "acme-key",
        "[" + event("req-5", "acme", "3", when) + ", " + event("req-2", "acme", "1", when) + "]");
    EXPECT_EQ(array.status, 200) << array.body;
    EXPECT_TRUE(has(array.body, R"({"durability":"ledger","events":[)")) << array.body;
    EXPECT_TRUE(has(array.body, R"({"index":0,"status":"accepted")")) << array.body;
    EXPECT_TRUE(has(array.body, R"({"index":1,"status":"duplicate")")) << array.body;

    // Errors: another tenant's event with a tenant key, a broken body, a bad wait, no key.
    auto forbidden = post(address, "/v1/events", "acme-key", event("req-9", "globex", "1", when));
    EXPECT_EQ(forbidden.status, 403) << forbidden.body;
    EXPECT_TRUE(has(forbidden.body, "nothing was sent")) << forbidden.body;
    EXPECT_EQ(post(address, "/v1/events", "acme-key", "[1,").status, 400);
    EXPECT_TRUE(has(post(address, "/v1/events", "acme-key", "[1,").body, R"("error":"bad_body")"));
    EXPECT_EQ(post(address, "/v1/events?wait=maybe", "acme-key", first).status, 400);
    EXPECT_EQ(post(address, "/v1/events", "", first).status, 401);

    // The ledger counted exactly what was sent: accepted 4 (req-1, req-2, req-4, req-5),
    // duplicate 2, conflict 1.
    std::string stats;
    EXPECT_TRUE(ul::test::wait_until(
        [&] {
            auto out = ul::test::run_and_capture(
                "stats", {UL_BINARY, "stats", "--data-dir", data_dir}, dir.path(), 30s);
            stats = out.value_or("");
            return has(stats, R"("consumed":7,)");
        },
        30s))
        << stats;
    EXPECT_TRUE(has(stats, R"("consumed":7,"accepted":4,"duplicate":2,"conflict":1,)")) << stats;

    up.signal(SIGTERM);
    EXPECT_EQ(up.wait(60s), std::optional<int>(0)) << up.stderr_text();
}

}  // namespace
