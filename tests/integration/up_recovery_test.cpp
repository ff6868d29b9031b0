// `usage-ledger up` as its users see it after things go wrong, over real sockets:
// - kill -9 right after events were committed, ten times: after each restart the usage API,
//   entitlements and `export counters` equal the committed events exactly by the time /readyz
//   first says ready (the projection applies from the ledger store what a crash left behind);
// - the ledger thread fails (an injected store write error): /healthz and /readyz answer 503
//   naming it at once, ingest refuses with 503, the log says why, and by default up exits 1;
// - the disk fills (a small tmpfs): the ledger stops with one error naming the free space and the
//   threshold, no abort; when space returns it resumes and the counts are exact;
// - the projection's disk alone fills (a tmpfs at <data-dir>/projections): the projection stops
//   with one error and projection_disk_paused 1 while the ledger goes on committing; when space
//   returns the counters catch up exactly;
// - the durability statement (README "Durability: what is safe when"): events answered 200
//   `wait=committed` survive kill -9 exactly once; events answered 202 `wait=acknowledged` while
//   the ledger was paused on a full disk were in the embedded broker's memory only and are lost.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::http_request;
using ul::test::TempDir;

constexpr char kAdmin[] = "recovery-admin";
const std::vector<std::string> kTenants = {"crash-a", "crash-b", "crash-c", "crash-d"};

bool has(const std::string& body, const std::string& part) {
    return body.find(part) != std::string::npos;
}

std::size_t occurrences(const std::string& text, const std::string& part) {
    std::size_t count = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
        ++count;
    }
    return count;
}

std::string start_address(const ChildProcess& up) {
    return ul::test::wait_for_match([&] { return up.stdout_text(); },
                                    "dashboard: +http://([0-9.]+:[0-9]+)/", 120s);
}

std::vector<std::string> up_argv(const std::string& data_dir,
                                 const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {UL_BINARY,  "up",          "--data-dir",  data_dir,
                                     "--listen", "127.0.0.1:0", "--admin-key", kAdmin};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

// `count` events as NDJSON, one unit each, spread over kTenants, keys `prefix`-N.
std::string ndjson(const std::string& prefix, int count, const std::string& when) {
    std::string out;
    for (int index = 0; index < count; ++index) {
        out += R"({"idempotency_key":")" + prefix + "-" + std::to_string(index) +
               R"(","tenant_id":")" + kTenants[index % kTenants.size()] +
               R"(","meter":"api_calls","quantity":1,"timestamp":")" + when + "\"}\n";
    }
    return out;
}

ul::test::HttpReply post_events(const std::string& address, const std::string& wait,
                                const std::string& body) {
    return http_request(address, "POST", "/v1/events" + (wait.empty() ? "" : "?wait=" + wait),
                        {{"Authorization", std::string("Bearer ") + kAdmin},
                         {"Content-Type", "application/x-ndjson"}},
                        body);
}

// The `"used":"N"` of api_calls in the tenant's month at `when`, or -1.
long long used_at(const std::string& address, const std::string& tenant, const std::string& when) {
    const auto reply =
        http_get(address, "/v1/tenants/" + tenant + "/usage?period=month&at=" + when, kAdmin);
    std::smatch match;
    static const std::regex kUsed(R"re("meter":"api_calls","used":"([0-9]+)")re");
    if (reply.status != 200 || !std::regex_search(reply.body, match, kUsed)) {
        return -1;
    }
    return std::stoll(match[1]);
}

// Sum of the month cells of api_calls per tenant in `export counters`.
std::map<std::string, long long> exported_months(const std::string& data_dir,
                                                 const std::filesystem::path& logs) {
    std::map<std::string, long long> out;
    auto text = ul::test::run_and_capture(
        "export", {UL_BINARY, "export", "counters", "--data-dir", data_dir, "--window", "month"},
        logs, 60s);
    static const std::regex kLine(
        R"re(\{"tenant_id":"([^"]+)","meter":"api_calls","period_start":"[^"]+","sum":"([0-9]+)")re");
    for (auto it = std::sregex_iterator(text->begin(), text->end(), kLine);
         it != std::sregex_iterator(); ++it) {
        out[(*it)[1]] += std::stoll((*it)[2]);
    }
    return out;
}

TEST(UpRecovery, CountsAreExactAfterKill9BeforeReadyzSaysReady) {
    TempDir dir;
    const std::string data_dir = (dir.path() / "data").string();
    const std::string when = ul::test::utc_now_rfc3339();
    constexpr int kCycles = 10;
    constexpr int kPerCycle = 1000;
    long long committed = 0;
    for (int cycle = 0; cycle < kCycles; ++cycle) {
        SCOPED_TRACE("cycle " + std::to_string(cycle));
        ChildProcess up("up-" + std::to_string(cycle), up_argv(data_dir), dir.path());
        const std::string address = start_address(up);
        ASSERT_FALSE(address.empty()) << up.stderr_text();
        // Before ready, nothing is claimed; at the first ready answer every committed event
        // counts, in the API, in entitlements and in what `export counters` reads.
        ASSERT_TRUE(
            ul::test::wait_until([&] { return http_get(address, "/readyz").status == 200; }, 120s))
            << http_get(address, "/readyz").body << up.stderr_text();
        if (committed > 0) {
            // The embedded broker started empty: each partition the ledger had read is a log
            // reset, expected in up, logged at info and counted apart — not a gap, not an error.
            ASSERT_TRUE(ul::test::wait_until(
                [&] {
                    const auto metrics = http_get(address, "/metrics").body;
                    return has(metrics, "ledger_log_resets_total ") &&
                           !has(metrics, "ledger_log_resets_total 0\n");
                },
                60s))
                << http_get(address, "/metrics").body;
            const auto metrics = http_get(address, "/metrics").body;
            EXPECT_TRUE(has(metrics, "ledger_gaps_total 0\n")) << metrics;
            EXPECT_TRUE(has(metrics, "ledger_gap_events_total 0\n")) << metrics;
            EXPECT_FALSE(has(up.stderr_text(), "log was reset")) << up.stderr_text();
            EXPECT_TRUE(has(up.stderr_text(), "the embedded broker started empty"));
        }
        const long long per_tenant = committed / static_cast<long long>(kTenants.size());
        for (const auto& tenant : kTenants) {
            EXPECT_EQ(used_at(address, tenant, when), per_tenant) << tenant;
            const auto entitlement =
                http_get(address, "/v1/tenants/" + tenant + "/entitlements/api_calls", kAdmin);
            // Entitlements answer the current month: exact whenever the events' month is now's.
            if (ul::test::utc_now_rfc3339().substr(0, 7) == when.substr(0, 7)) {
                EXPECT_TRUE(
                    has(entitlement.body, "\"used\":\"" + std::to_string(per_tenant) + "\""))
                    << entitlement.body;
            }
        }
        if (committed > 0) {
            const auto exported = exported_months(data_dir, dir.path());
            for (const auto& tenant : kTenants) {
                EXPECT_EQ(exported.contains(tenant) ? exported.at(tenant) : 0, per_tenant)
                    << tenant;
            }
        }
        const auto reply =
            post_events(address, "committed", ndjson("c" + std::to_string(cycle), kPerCycle, when));
        ASSERT_EQ(reply.status, 200) << reply.body;
        ASSERT_EQ(occurrences(reply.body, R"("status":"accepted")"),
                  static_cast<std::size_t>(kPerCycle))
            << reply.body.substr(0, 2000);
        committed += kPerCycle;
        up.signal(SIGKILL);  // at once, whatever was written or relayed
        ASSERT_TRUE(up.wait(30s).has_value());
    }
}

TEST(UpRecovery, AFailedLedgerIsVisibleAtOnceAndIngestRefuses) {
    TempDir dir;
    const std::string data_dir = (dir.path() / "data").string();
    ChildProcess up("up",
                    up_argv(data_dir, {"--on-component-failure", "serve",
                                       "--test-fail-ledger-after-batches", "1"}),
                    dir.path());
    const std::string address = start_address(up);
    ASSERT_FALSE(address.empty()) << up.stderr_text();
    const std::string when = ul::test::utc_now_rfc3339();
    // The first batch commits; the second one fails as a RocksDB write error would.
    auto first = post_events(address, "committed", ndjson("f1", 1, when));
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_TRUE(has(first.body, R"("status":"accepted")")) << first.body;
    // The event of the failing batch: its answer comes at once the ledger stops, not after
    // the 30 s commit timeout.
    auto second = post_events(address, "committed", ndjson("f2", 1, when));
    EXPECT_EQ(second.status, 503) << second.body;
    EXPECT_TRUE(
        has(second.body, R"("status":"pending","error":"the ledger stopped before committing it")"))
        << second.body;

    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            return http_get(address, "/readyz").status == 503 &&
                   has(http_get(address, "/readyz").body, "ledger stopped: ");
        },
        60s))
        << http_get(address, "/readyz").body;
    EXPECT_TRUE(has(http_get(address, "/readyz").body, "injected"))
        << http_get(address, "/readyz").body;
    const auto health = http_get(address, "/healthz");
    EXPECT_EQ(health.status, 503) << health.body;
    EXPECT_TRUE(has(health.body, R"("component":"ledger")")) << health.body;
    // The log says why at once, not at shutdown.
    EXPECT_TRUE(has(up.stderr_text(), "the ledger stopped: ledger store write failed"))
        << up.stderr_text();
    auto refused = post_events(address, "", ndjson("f3", 1, when));
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_TRUE(has(refused.body, R"("error":"ledger_unavailable")")) << refused.body;

    up.signal(SIGTERM);
    EXPECT_EQ(up.wait(60s), std::optional<int>(1)) << up.stderr_text();
}

TEST(UpRecovery, ByDefaultUpExitsWhenAPartStops) {
    TempDir dir;
    ChildProcess up(
        "up", up_argv((dir.path() / "data").string(), {"--test-fail-ledger-after-batches", "1"}),
        dir.path());
    const std::string address = start_address(up);
    ASSERT_FALSE(address.empty()) << up.stderr_text();
    const std::string when = ul::test::utc_now_rfc3339();
    EXPECT_EQ(post_events(address, "committed", ndjson("d1", 1, when)).status, 200);
    (void)post_events(address, "acknowledged", ndjson("d2", 1, when));
    EXPECT_EQ(up.wait(60s), std::optional<int>(1)) << up.stderr_text();
    EXPECT_TRUE(has(up.stderr_text(), "stopping because a part stopped")) << up.stderr_text();
}

// A tmpfs of its own, unmounted at the end.
class Tmpfs {
  public:
    Tmpfs(const std::filesystem::path& at, int mebibytes) : path_(at) {
        std::filesystem::create_directories(at);
        const std::string options = "size=" + std::to_string(mebibytes) + "m";
        if (mount("tmpfs", at.c_str(), "tmpfs", 0, options.c_str()) == 0) {
            mounted_ = true;
        } else {
            error_ = std::strerror(errno);
        }
    }
    ~Tmpfs() {
        if (mounted_) {
            umount2(path_.c_str(), MNT_DETACH);
        }
    }
    Tmpfs(const Tmpfs&) = delete;
    Tmpfs& operator=(const Tmpfs&) = delete;
    bool mounted() const { return mounted_; }
    const std::string& error() const { return error_; }
    std::uint64_t free_bytes() const {
        struct statvfs stats {};
        statvfs(path_.c_str(), &stats);
        return static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
    }
    // Writes `ballast` until about `free` bytes are left; false when there is not that much.
    bool fill_until_free(const std::filesystem::path& ballast, std::uint64_t free) const {
        const std::uint64_t available = free_bytes();
        if (available <= free) {
            return false;
        }
        std::ofstream out(ballast, std::ios::binary);
        const std::string block(1 << 20, 'x');
        for (std::uint64_t written = 0; written + free < available; written += block.size()) {
            out.write(block.data(), static_cast<std::streamsize>(block.size()));
        }
        return static_cast<bool>(out);
    }

  private:
    std::filesystem::path path_;
    bool mounted_ = false;
    std::string error_;
};

// Stops `up` with SIGTERM (it must exit 0), then `stats` of its ledger must hold `expected`.
void stop_and_expect_stats(ChildProcess& up, const std::string& data_dir,
                           const std::filesystem::path& cwd, const std::string& expected) {
    up.signal(SIGTERM);
    EXPECT_EQ(up.wait(60s), std::optional<int>(0)) << up.stderr_text();
    auto stats =
        ul::test::run_and_capture("stats", {UL_BINARY, "stats", "--data-dir", data_dir}, cwd, 60s);
    ASSERT_TRUE(stats.has_value());
    EXPECT_TRUE(has(*stats, expected)) << *stats;
}

// A test that needs `disk` (a Tmpfs) mounted: CI runs as root and must run it (a failure
// there); elsewhere it needs a mount of one's own (skipped). A macro: FAIL and GTEST_SKIP return
// from the test itself.
#define UL_REQUIRE_TMPFS(disk)                                                              \
    do {                                                                                    \
        if (!(disk).mounted()) {                                                            \
            if (std::getenv("CI") != nullptr) {                                             \
                FAIL() << "cannot mount a tmpfs: " << (disk).error();                       \
            }                                                                               \
            GTEST_SKIP() << "cannot mount a tmpfs (" << (disk).error() << "); run as root"; \
        }                                                                                   \
    } while (false)

TEST(UpRecovery, AFullDiskPausesTheLedgerWithOneErrorAndItResumesExactly) {
    TempDir dir;
    Tmpfs disk(dir.path() / "disk", 512);
    UL_REQUIRE_TMPFS(disk);
    const std::string data_dir = (dir.path() / "disk" / "data").string();
    ChildProcess up("up", up_argv(data_dir, {"--min-free-disk", "96MiB"}), dir.path());
    const std::string address = start_address(up);
    ASSERT_FALSE(address.empty()) << up.stderr_text();
    const std::string when = ul::test::utc_now_rfc3339();
    auto before = post_events(address, "committed", ndjson("before", 100, when));
    ASSERT_EQ(before.status, 200) << before.body;
    ASSERT_TRUE(ul::test::wait_until([&] { return used_at(address, "crash-a", when) == 25; }, 60s));

    // Fill the disk to 64 MiB free: below the threshold, far from RocksDB's ENOSPC.
    const std::filesystem::path ballast = dir.path() / "disk" / "ballast";
    ASSERT_TRUE(disk.fill_until_free(ballast, 64ULL << 20U));
    auto queued = post_events(address, "acknowledged", ndjson("during", 100, when));
    ASSERT_EQ(queued.status, 202) << queued.body;
    // The ledger's own line (the projection, on the same disk, pauses too and says so).
    const std::regex ledger_paused(
        R"(ledger: only [0-9.]+ MiB free on the disk of .*/ledger, below --min-free-disk 96.0 MiB)");
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return std::regex_search(up.stderr_text(), ledger_paused); }, 60s))
        << up.stderr_text();
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return has(http_get(address, "/metrics").body, "\nledger_disk_paused 1\n"); }, 30s));
    EXPECT_EQ(http_get(address, "/readyz").status, 503);
    EXPECT_TRUE(has(http_get(address, "/readyz").body, "the ledger paused"))
        << http_get(address, "/readyz").body;
    // Nothing consumed while paused (the events wait in Kafka), one error line, no abort.
    EXPECT_EQ(used_at(address, "crash-a", when), 25);
    EXPECT_EQ(occurrences(up.stderr_text(), "ledger: only "), 1U) << up.stderr_text();

    std::filesystem::remove(ballast);
    // Each tenant's events are on their own partition: each reaches 50 when its partition has
    // been read again.
    for (const auto& tenant : kTenants) {
        EXPECT_TRUE(ul::test::wait_until([&] { return used_at(address, tenant, when) == 50; }, 60s))
            << tenant << ": " << used_at(address, tenant, when) << up.stderr_text();
    }
    EXPECT_TRUE(has(up.stderr_text(), "again; resuming")) << up.stderr_text();
    ASSERT_TRUE(
        ul::test::wait_until([&] { return http_get(address, "/readyz").status == 200; }, 60s))
        << http_get(address, "/readyz").body;
    stop_and_expect_stats(up, data_dir, dir.path(), R"("consumed":200,"accepted":200,)");
}

TEST(UpRecovery, AFullProjectionDiskPausesOnlyTheProjectionAndItCatchesUpExactly) {
    TempDir dir;
    const std::string data_dir = (dir.path() / "data").string();
    Tmpfs disk(dir.path() / "data" / "projections", 512);
    UL_REQUIRE_TMPFS(disk);
    ChildProcess up("up", up_argv(data_dir, {"--min-free-disk", "96MiB"}), dir.path());
    const std::string address = start_address(up);
    ASSERT_FALSE(address.empty()) << up.stderr_text();
    const std::string when = ul::test::utc_now_rfc3339();
    auto before = post_events(address, "committed", ndjson("before", 100, when));
    ASSERT_EQ(before.status, 200) << before.body;
    ASSERT_TRUE(ul::test::wait_until([&] { return used_at(address, "crash-a", when) == 25; }, 60s));

    // Fill the projection's disk to 64 MiB free: below the threshold. The ledger's disk is not
    // this one and keeps its space.
    const std::filesystem::path ballast = dir.path() / "data" / "projections" / "ballast";
    ASSERT_TRUE(disk.fill_until_free(ballast, 64ULL << 20U));
    // Acknowledged by the ledger: it commits while the projection cannot write.
    auto during = post_events(address, "committed", ndjson("during", 100, when));
    ASSERT_EQ(during.status, 200) << during.body;
    const std::regex projection_paused(
        R"(projections: only [0-9.]+ MiB free on the disk of .*/projections, below --min-free-disk 96.0 MiB)");
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return std::regex_search(up.stderr_text(), projection_paused); }, 60s))
        << up.stderr_text();
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return has(http_get(address, "/metrics").body, "\nprojection_disk_paused 1\n"); },
        30s));
    const std::string metrics = http_get(address, "/metrics").body;
    EXPECT_TRUE(has(metrics, "\nledger_disk_paused 0\n")) << "the ledger's disk is not full";
    EXPECT_EQ(occurrences(up.stderr_text(), "projections: only "), 1U) << up.stderr_text();
    EXPECT_EQ(occurrences(up.stderr_text(), "ledger: only "), 0U) << up.stderr_text();

    std::filesystem::remove(ballast);
    for (const auto& tenant : kTenants) {
        EXPECT_TRUE(ul::test::wait_until([&] { return used_at(address, tenant, when) == 50; }, 60s))
            << tenant << ": " << used_at(address, tenant, when) << up.stderr_text();
    }
    EXPECT_TRUE(has(up.stderr_text(), "projections: ")) << up.stderr_text();
    ASSERT_TRUE(
        ul::test::wait_until([&] { return http_get(address, "/readyz").status == 200; }, 60s))
        << http_get(address, "/readyz").body;
    stop_and_expect_stats(up, data_dir, dir.path(), R"("consumed":200,"accepted":200,)");
}

constexpr int kCommitted = 200;     // answered 200 wait=committed: in the ledger's RocksDB
constexpr int kAcknowledged = 120;  // answered 202 wait=acknowledged: in the embedded broker only

// Posts `count` events keyed `prefix`-N and expects every one answered `status` at `http_status`
// with `durability`.
void expect_answers(const std::string& address, const std::string& wait, const std::string& prefix,
                    int count, const std::string& when, int http_status,
                    const std::string& durability, const std::string& status) {
    const auto reply = post_events(address, wait, ndjson(prefix, count, when));
    ASSERT_EQ(reply.status, http_status) << reply.body.substr(0, 2000);
    EXPECT_TRUE(has(reply.body, R"({"durability":")" + durability + "\"")) << reply.body;
    EXPECT_EQ(occurrences(reply.body, R"("status":")" + status + "\""),
              static_cast<std::size_t>(count))
        << reply.body.substr(0, 2000);
}

// Before the crash: `kept-*` answered 200 committed; then the disk fills and the ledger pauses
// (it polls nothing while `ledger_disk_paused` is 1), so `lost-*`, answered 202, can only be in
// the embedded broker's memory when up is killed. No timing decides which events commit.
void commit_pause_acknowledge_kill(ChildProcess& up, const Tmpfs& disk,
                                   const std::filesystem::path& ballast, const std::string& when) {
    const std::string address = start_address(up);
    ASSERT_FALSE(address.empty()) << up.stderr_text();
    ASSERT_NO_FATAL_FAILURE(
        expect_answers(address, "committed", "kept", kCommitted, when, 200, "ledger", "accepted"));
    ASSERT_TRUE(disk.fill_until_free(ballast, 64ULL << 20U));
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return has(http_get(address, "/metrics").body, "\nledger_disk_paused 1\n"); }, 60s))
        << up.stderr_text();
    ASSERT_NO_FATAL_FAILURE(expect_answers(address, "acknowledged", "lost", kAcknowledged, when,
                                           202, "kafka", "queued"));
    up.signal(SIGKILL);
    ASSERT_TRUE(up.wait(30s).has_value());
}

// What `name` prints for this ledger; it must exit 0.
std::string ledger_tool(const std::string& name, const std::vector<std::string>& tail,
                        const std::filesystem::path& cwd) {
    std::vector<std::string> argv = {UL_BINARY};
    argv.insert(argv.end(), tail.begin(), tail.end());
    auto out = ul::test::run_and_capture(name, argv, cwd, 60s);
    EXPECT_TRUE(out.has_value()) << name << " failed; see its log in " << cwd;
    return out.value_or("");
}

// The ledger holds every `kept-*` event once and no `lost-*` one, and verifies.
void expect_only_committed_in_ledger(const std::string& data_dir,
                                     const std::filesystem::path& cwd) {
    const std::string stats = ledger_tool("stats", {"stats", "--data-dir", data_dir}, cwd);
    EXPECT_TRUE(has(stats, "{\"consumed\":" + std::to_string(kCommitted) +
                               ",\"accepted\":" + std::to_string(kCommitted) + ","))
        << stats;
    const std::string entries =
        ledger_tool("export", {"export", "ledger", "--data-dir", data_dir}, cwd);
    EXPECT_EQ(occurrences(entries, R"("idempotency_key":"kept-)"),
              static_cast<std::size_t>(kCommitted));
    EXPECT_EQ(occurrences(entries, R"("idempotency_key":"lost-)"), 0U);
    const std::string verify = ledger_tool("verify", {"verify", "--data-dir", data_dir}, cwd);
    EXPECT_TRUE(has(verify, "{\"ok\":true,\"entries\":" + std::to_string(kCommitted) + ","))
        << verify;
}

TEST(UpRecovery, CommittedAnswersSurviveKill9AndAcknowledgedOnesDieWithTheEmbeddedBroker) {
    TempDir dir;
    Tmpfs disk(dir.path() / "disk", 512);
    UL_REQUIRE_TMPFS(disk);
    const std::string data_dir = (dir.path() / "disk" / "data").string();
    const std::filesystem::path ballast = dir.path() / "disk" / "ballast";
    const std::string when = ul::test::utc_now_rfc3339();
    const auto argv = up_argv(data_dir, {"--min-free-disk", "96MiB"});
    {
        ChildProcess up("up-before", argv, dir.path());
        ASSERT_NO_FATAL_FAILURE(commit_pause_acknowledge_kill(up, disk, ballast, when));
    }
    std::filesystem::remove(ballast);
    ChildProcess up("up-after", argv, dir.path());
    const std::string address = start_address(up);
    ASSERT_FALSE(address.empty()) << up.stderr_text();
    ASSERT_TRUE(
        ul::test::wait_until([&] { return http_get(address, "/readyz").status == 200; }, 120s))
        << http_get(address, "/readyz").body << up.stderr_text();
    for (const auto& tenant : kTenants) {
        EXPECT_EQ(used_at(address, tenant, when), kCommitted / std::ssize(kTenants)) << tenant;
    }
    expect_only_committed_in_ledger(data_dir, dir.path());
    // Sent again: the committed ones are duplicates (their dedup state survived too), the
    // acknowledged ones are new to the ledger.
    expect_answers(address, "committed", "kept", kCommitted, when, 200, "ledger", "duplicate");
    expect_answers(address, "committed", "lost", kAcknowledged, when, 200, "ledger", "accepted");
    stop_and_expect_stats(up, data_dir, dir.path(),
                          "{\"consumed\":" + std::to_string(2 * kCommitted + kAcknowledged) +
                              ",\"accepted\":" + std::to_string(kCommitted + kAcknowledged) +
                              ",\"duplicate\":" + std::to_string(kCommitted) + ",");
}

}  // namespace
