// Admin jobs (projections/api/jobs.h):
// - in-process, with a performer the test holds: a pending job cancels at once, a running one at
//   its next check; the files a crash leaves (a job "running") read back as failed/interrupted;
//   a finished job cannot be cancelled; everything survives a reopen;
// - over HTTP through `up`: verify finds a cell damaged through RocksDB, reconcile reports it,
//   reconcile with fix repairs it while the projection runs, verify then finds nothing; progress
//   ends at 100 with entries_done = entries_total; a tenant key gets 403; bad requests get 400.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "projections/api/jobs.h"
#include "projections/counters/replay.h"
#include "projections/runner/projection_store.h"
#include "tests/support/damaged_cell.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::http_request;
using ul::test::TempDir;

constexpr char kAdmin[] = "jobs-admin";

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A performer that holds "reconcile" jobs until released or cancelled; "verify" jobs finish at
// once with {"ok":true}.
struct HeldPerformer {
    std::mutex mutex;
    std::condition_variable changed;
    bool release = false;

    ul::JobPerformer performer() {
        return [this](const ul::Job& job,
                      const std::function<void(const ul::ReplayProgress&)>& progress,
                      const std::atomic<bool>& cancel) -> ul::Result<std::string, std::string> {
            if (job.request.kind == "verify") {
                return std::string("{\"ok\":true}");
            }
            progress(ul::ReplayProgress{.entries_done = 5, .entries_total = 10, .seconds = 0});
            std::unique_lock lock(mutex);
            // The cancel flag is set without a notification: look at it every 10 ms.
            while (!release && !cancel.load()) {
                changed.wait_for(lock, 10ms);
            }
            if (cancel.load()) {
                return ul::unexpected(std::string("cancelled"));
            }
            return std::string("{\"held\":true}");
        };
    }
};

std::int64_t fixed_now() {
    return 1'700'000'000'000'000;
}

TEST(JobsRegistry, CancelsPendingAndRunningJobsAndMarksCrashedOnesInterrupted) {
    TempDir dir;
    const std::string jobs_dir = (dir.path() / "jobs").string();
    HeldPerformer held;
    auto jobs = ul::Jobs::open({.dir = jobs_dir, .now_us = fixed_now}, held.performer());
    ASSERT_TRUE(jobs) << jobs.error();
    auto running = (*jobs)->submit({.kind = "reconcile", .tenant_id = "acme", .fix = false});
    ASSERT_TRUE(running);
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            const auto job = (*jobs)->get(running->id);
            return job->status == ul::JobStatus::running && job->entries_done == 5;
        },
        30s));
    EXPECT_TRUE(has(ul::job_json(*(*jobs)->get(running->id)), R"("progress":50,)"));
    // The worker is busy: this one waits, and cancelling it ends it at once.
    auto pending = (*jobs)->submit({.kind = "verify", .tenant_id = "", .fix = false});
    ASSERT_TRUE(pending);
    auto cancelled = (*jobs)->cancel(pending->id);
    ASSERT_TRUE(cancelled);
    EXPECT_EQ(cancelled->status, ul::JobStatus::cancelled);

    // What a kill -9 leaves now: a job file that says "running". Read back, it failed.
    const std::string crashed_dir = (dir.path() / "crashed").string();
    std::filesystem::copy(jobs_dir, crashed_dir);
    {
        HeldPerformer other;
        auto reopened =
            ul::Jobs::open({.dir = crashed_dir, .now_us = fixed_now}, other.performer());
        ASSERT_TRUE(reopened) << reopened.error();
        auto interrupted = (*reopened)->get(running->id);
        ASSERT_TRUE(interrupted);
        EXPECT_EQ(interrupted->status, ul::JobStatus::failed);
        EXPECT_EQ(interrupted->error, "interrupted");
        EXPECT_TRUE(has(ul::job_json(*interrupted), R"("status":"failed")"));
        EXPECT_EQ((*reopened)->get(pending->id)->status, ul::JobStatus::cancelled);
    }

    // A running job stops at its next check.
    ASSERT_TRUE((*jobs)->cancel(running->id));
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return (*jobs)->get(running->id)->status == ul::JobStatus::cancelled; }, 30s));
    // A job that completed: progress 100, its result, and no cancelling it.
    auto done = (*jobs)->submit({.kind = "verify", .tenant_id = "", .fix = false});
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return (*jobs)->get(done->id)->status == ul::JobStatus::completed; }, 30s));
    const std::string json = ul::job_json(*(*jobs)->get(done->id));
    EXPECT_TRUE(has(json, R"("progress":100)")) << json;
    EXPECT_TRUE(has(json, R"("result":{"ok":true})")) << json;
    auto refused = (*jobs)->cancel(done->id);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), "finished");
    EXPECT_EQ((*jobs)->list("verify", "").size(), 2U);
    EXPECT_EQ((*jobs)->list("", "cancelled").size(), 2U);
    jobs->reset();

    // Everything is where it was after a clean reopen.
    HeldPerformer again;
    auto reopened = ul::Jobs::open({.dir = jobs_dir, .now_us = fixed_now}, again.performer());
    ASSERT_TRUE(reopened);
    EXPECT_EQ((*reopened)->get(running->id)->status, ul::JobStatus::cancelled);
    EXPECT_EQ((*reopened)->get(done->id)->status, ul::JobStatus::completed);
    EXPECT_TRUE(has(ul::job_json(*(*reopened)->get(done->id)), R"("result":{"ok":true})"));
}

TEST(JobsRegistry, RequestsAreCheckedBeforeTheyAreQueued) {
    EXPECT_TRUE(ul::parse_job_request(R"({"kind":"verify"})"));
    EXPECT_TRUE(ul::parse_job_request(R"({"tenant_id":"acme","fix":true})", "reconcile"));
    EXPECT_FALSE(ul::parse_job_request(R"({"kind":"reconcile"})"));  // no tenant
    EXPECT_TRUE(ul::parse_job_request(R"({"kind":"replay"})"));
    EXPECT_FALSE(ul::parse_job_request(R"({"kind":"replay","tenant_id":"acme"})"));
    EXPECT_FALSE(ul::parse_job_request(R"({"kind":"rebuild"})"));
    EXPECT_FALSE(ul::parse_job_request(R"({"kind":"verify","tenant_id":"acme"})"));
    EXPECT_FALSE(ul::parse_job_request(R"({"kind":"verify","speed":"fast"})"));
    EXPECT_FALSE(ul::parse_job_request(R"({"kind":"reconcile","tenant_id":"a","fix":"yes"})"));
    EXPECT_FALSE(ul::parse_job_request("[]"));
    EXPECT_FALSE(ul::parse_job_request("not json"));
}

std::string start_address(const ChildProcess& up) {
    return ul::test::wait_for_match([&] { return up.stdout_text(); },
                                    "dashboard: +http://([0-9.]+:[0-9]+)/", 120s);
}

ul::test::HttpReply admin(const std::string& address, const std::string& method,
                          const std::string& target, const std::string& body = "") {
    return http_request(
        address, method, target,
        {{"Authorization", std::string("Bearer ") + kAdmin}, {"Content-Type", "application/json"}},
        body);
}

// Starts a job and waits until it ends; its final JSON.
std::string run_job(const std::string& address, const std::string& target,
                    const std::string& body) {
    const auto started = admin(address, "POST", target, body);
    EXPECT_EQ(started.status, 202) << started.body;
    std::smatch match;
    static const std::regex kId(R"re("id":"([^"]+)")re");
    if (!std::regex_search(started.body, match, kId)) {
        return "no id in " + started.body;
    }
    const std::string id = match[1];
    EXPECT_EQ(started.headers.count("location"), 1U);
    std::string last;
    EXPECT_TRUE(ul::test::wait_until(
        [&] {
            last = admin(address, "GET", "/v1/admin/jobs/" + id).body;
            return has(last, R"("status":"completed")") || has(last, R"("status":"failed")");
        },
        120s))
        << last;
    return last;
}

TEST(JobsOverHttp, VerifyFindsADamagedCellAndReconcileRepairsItWhileUpRuns) {
    TempDir dir;
    const std::string data_dir = (dir.path() / "data").string();
    // The test polls with one key (every 5 ms): a rate limit it cannot reach, never 429.
    const std::vector<std::string> argv = {UL_BINARY,      "up",          "--data-dir",   data_dir,
                                           "--listen",     "127.0.0.1:0", "--admin-key",  kAdmin,
                                           "--rate-limit", "100000",      "--rate-burst", "100000"};
    const std::string when = ul::test::utc_now_rfc3339();
    {
        ChildProcess up("up-1", argv, dir.path());
        const std::string address = start_address(up);
        ASSERT_FALSE(address.empty()) << up.stderr_text();
        std::string events;
        for (int index = 0; index < 600; ++index) {
            events += R"({"idempotency_key":"j-)" + std::to_string(index) + R"(","tenant_id":")" +
                      (index % 2 == 0 ? "acme" : "globex") +
                      R"(","meter":"api_calls","quantity":"1.5","timestamp":")" + when + "\"}\n";
        }
        const auto posted = http_request(address, "POST", "/v1/events?wait=committed",
                                         {{"Authorization", std::string("Bearer ") + kAdmin},
                                          {"Content-Type", "application/x-ndjson"}},
                                         events);
        ASSERT_EQ(posted.status, 200) << posted.body;
        ASSERT_TRUE(ul::test::wait_until(
            [&] {
                return has(http_get(address, "/v1/tenants/acme/usage?period=month", kAdmin).body,
                           R"("meter":"api_calls","used":"450")");
            },
            60s));
        const std::string clean = run_job(address, "/v1/admin/jobs", R"({"kind":"verify"})");
        EXPECT_TRUE(has(clean, R"("status":"completed")")) << clean;
        EXPECT_TRUE(has(clean, R"("differences":0,)")) << clean;
        up.signal(SIGTERM);
        ASSERT_EQ(up.wait(60s), std::optional<int>(0)) << up.stderr_text();
    }
    // One day cell of acme gets one count more, behind the projection's back.
    auto key = ul::test::damage_day_cell(data_dir + "/projections", "acme");
    ASSERT_TRUE(key) << key.error();
    std::string damaged = ul::describe(
        ul::CellDifference{ul::CellFamily::counters, *key, std::nullopt, std::nullopt});
    damaged = damaged.substr(0, damaged.find(':'));  // "tenant acme, meter …, start …"
    ChildProcess up("up-2", argv, dir.path());
    const std::string address = start_address(up);
    ASSERT_FALSE(address.empty()) << up.stderr_text();
    ASSERT_TRUE(
        ul::test::wait_until([&] { return http_get(address, "/readyz").status == 200; }, 120s));
    // Jobs a crash interrupted earlier do not exist here; the list has the first verify.
    EXPECT_TRUE(
        has(admin(address, "GET", "/v1/admin/jobs?kind=verify").body, R"("differences":0,)"));

    const std::string caught = run_job(address, "/v1/admin/jobs", R"({"kind":"verify"})");
    EXPECT_TRUE(has(caught, R"("differences":1,)")) << caught;
    EXPECT_TRUE(has(caught, damaged)) << caught << " should name " << damaged;

    const std::string drift = run_job(address, "/v1/admin/reconcile", R"({"tenant_id":"acme"})");
    EXPECT_TRUE(has(drift, R"("differences":1,)")) << drift;
    EXPECT_TRUE(has(drift, R"("repaired":false)")) << drift;
    EXPECT_TRUE(has(drift, R"("tenant_entries":300,)")) << drift;

    const std::string repaired =
        run_job(address, "/v1/admin/reconcile", R"({"tenant_id":"acme","fix":true})");
    EXPECT_TRUE(has(repaired, R"("status":"completed","progress":100,"entries_done":600,)"
                              R"("entries_total":600,)"))
        << repaired;
    EXPECT_TRUE(has(repaired, R"("repaired":true)")) << repaired;
    EXPECT_TRUE(has(repaired, damaged)) << repaired;

    const std::string after = run_job(address, "/v1/admin/jobs", R"({"kind":"verify"})");
    EXPECT_TRUE(has(after, R"("differences":0,)")) << after;

    // A replay job keeps its rebuilt store: the same month cells as the repaired live store.
    const std::string replayed = run_job(address, "/v1/admin/jobs", R"({"kind":"replay"})");
    EXPECT_TRUE(has(replayed, R"("status":"completed")")) << replayed;
    EXPECT_TRUE(has(replayed, R"("entries":600,)")) << replayed;
    std::smatch out;
    ASSERT_TRUE(std::regex_search(replayed, out, std::regex(R"re("data_dir":"([^"]+)")re")))
        << replayed;
    auto export_months = [&](const std::string& from) {
        return ul::test::run_and_capture(
                   "export",
                   {UL_BINARY, "export", "counters", "--data-dir", from, "--window", "month"},
                   dir.path(), 60s)
            .value_or("export failed");
    };
    EXPECT_EQ(export_months(out[1]), export_months(data_dir));
    EXPECT_TRUE(has(http_get(address, "/v1/tenants/acme/usage?period=month", kAdmin).body,
                    R"("meter":"api_calls","used":"450")"));

    // Admin only, checked requests, unknown ids.
    EXPECT_EQ(http_get(address, "/v1/admin/jobs", "").status, 401);
    EXPECT_EQ(admin(address, "POST", "/v1/admin/jobs", R"({"kind":"rebuild"})").status, 400);
    EXPECT_EQ(admin(address, "POST", "/v1/admin/reconcile", R"({"fix":true})").status, 400);
    EXPECT_EQ(admin(address, "GET", "/v1/admin/jobs?status=done").status, 400);
    EXPECT_EQ(admin(address, "GET", "/v1/admin/jobs/nope").status, 404);
    EXPECT_EQ(admin(address, "DELETE", "/v1/admin/jobs/nope").status, 404);
    std::smatch match;
    const std::string listed = admin(address, "GET", "/v1/admin/jobs?status=completed").body;
    ASSERT_TRUE(std::regex_search(listed, match, std::regex(R"re("id":"([^"]+)")re")));
    EXPECT_EQ(admin(address, "DELETE", "/v1/admin/jobs/" + std::string(match[1])).status, 409);
    up.signal(SIGTERM);
    EXPECT_EQ(up.wait(60s), std::optional<int>(0)) << up.stderr_text();
}

TEST(JobsOverHttp, ATenantKeyIsForbidden) {
    TempDir dir;
    const std::string data_dir = (dir.path() / "data").string();
    ChildProcess up("up",
                    {UL_BINARY, "up", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
                     "--admin-key", kAdmin, "--rate-limit", "100000", "--rate-burst", "100000"},
                    dir.path());
    const std::string address = start_address(up);
    ASSERT_FALSE(address.empty()) << up.stderr_text();
    ChildProcess account("account",
                         {UL_BINARY, "account", "set", "--bootstrap-file", data_dir + "/bootstrap",
                          "--tenant", "acme", "--plan", "pro", "--api-key", "acme-key"},
                         dir.path());
    ASSERT_EQ(account.wait(60s), std::optional<int>(0)) << account.stderr_text();
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            return has(admin(address, "GET", "/v1/admin/tenants").body, R"("tenant_id":"acme")");
        },
        60s));
    EXPECT_EQ(http_get(address, "/v1/admin/jobs", "acme-key").status, 403);
    EXPECT_EQ(http_request(address, "POST", "/v1/admin/reconcile",
                           {{"Authorization", "Bearer acme-key"}}, R"({"tenant_id":"acme"})")
                  .status,
              403);
    up.signal(SIGTERM);
    EXPECT_EQ(up.wait(60s), std::optional<int>(0)) << up.stderr_text();
}

}  // namespace
