// Alerts end to end (issue 11): broker, ledger and project as separate processes, webhook
// receivers as real HTTP servers on loopback in this test. One tenant's api_calls go 79 → 81 →
// 96 → 101 % of the free plan's 1000 (one event late, other tenants' traffic between): exactly
// three alerts, each POSTed once with a valid signature. A second tenant's receiver fails its
// first three attempts (500, a timeout, connection refused) and still gets its alert, every
// attempt in the delivery log; a third tenant's receiver hangs forever and delays nobody.
// kill -9 of the projection, and a rebuild of its store from usage.ledger's offset 0, raise
// nothing again. Every wait is a condition with a deadline.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "projections/alerts/webhook.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::TempDir;

constexpr char kAdmin[] = "admin-alerts";
constexpr char kSecret[] = "whsec_test_secret";

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::size_t count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
        ++n;
    }
    return n;
}

// A webhook receiver on 127.0.0.1: one thread accepting connections one at a time (the sender
// has one request in flight per receiver). For each request `behave(n)` (n: 1-based) says what
// to do: answer a status, or hang (keep the connection, answer nothing, until the next one).
// It records every body with its headers and whether the signature verified.
class Receiver {
  public:
    struct Request {
        std::string body;
        std::string signature;
        std::string event_id;
        bool signature_ok = false;
    };
    static constexpr int kHang = -1;
    // On a port below the kernel's ephemeral range (so that, closed, no outgoing connection
    // of this machine can take it before open() binds it again), picked at random.
    explicit Receiver(std::function<int(int)> behave) : behave_(std::move(behave)) {
        std::random_device random;
        for (int tries = 0;; ++tries) {
            try {
                open(static_cast<unsigned short>(20'000 + random() % 12'000));
                return;
            } catch (const boost::system::system_error&) {
                if (tries == 50) {
                    throw;
                }
            }
        }
    }
    ~Receiver() { close(); }
    void open(unsigned short port) {
        acceptor_ = std::make_unique<tcp::acceptor>(io_);
        acceptor_->open(tcp::v4());
        // Not inherited by the processes this test starts (or closing it would not close it).
        ::fcntl(acceptor_->native_handle(), F_SETFD, FD_CLOEXEC);
        acceptor_->set_option(asio::socket_base::reuse_address(true));
        acceptor_->bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        acceptor_->listen();
        port_ = acceptor_->local_endpoint().port();
        stop_ = false;
        thread_ = std::thread([this] { serve(); });
    }
    // Refuses connections from now on (the port closed) until open(port()) again.
    void close() {
        stop_ = true;
        boost::system::error_code ignored;
        if (acceptor_) {
            acceptor_->cancel(ignored);
            acceptor_->close(ignored);
        }
        if (thread_.joinable()) {
            // The accept loop polls stop_ between short accepts.
            thread_.join();
        }
        acceptor_.reset();  // a hung connection stays open (the sender times out on it)
    }
    unsigned short port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
    std::vector<Request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    int attempts() const { return attempts_.load(); }

  private:
    void serve() {
        acceptor_->non_blocking(true);
        while (!stop_) {
            auto socket = std::make_unique<tcp::socket>(io_);
            boost::system::error_code error;
            acceptor_->accept(*socket, error);
            if (error == asio::error::would_block || error == asio::error::try_again) {
                // Wait for a connection without spinning: poll the descriptor with a timeout.
                pollfd fd{acceptor_->native_handle(), POLLIN, 0};
                (void)::poll(&fd, 1, 50);
                continue;
            }
            if (error) {
                return;
            }
            socket->non_blocking(false);
            ::fcntl(socket->native_handle(), F_SETFD, FD_CLOEXEC);
            handle(std::move(socket));
        }
    }
    void handle(std::unique_ptr<tcp::socket> socket) {
        beast::flat_buffer buffer;
        http::request<http::string_body> request;
        boost::system::error_code error;
        http::read(*socket, buffer, request, error);
        if (error) {
            return;
        }
        const int n = ++attempts_;
        const int status = behave_(n);
        {
            Request seen;
            seen.body = request.body();
            seen.signature = std::string(request[std::string(ul::kWebhookSignatureHeader)]);
            seen.event_id = std::string(request["Usage-Ledger-Event-Id"]);
            const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            seen.signature_ok = static_cast<bool>(
                ul::verify_webhook_signature(kSecret, seen.signature, seen.body, now));
            if (status == 200) {
                std::lock_guard lock(mutex_);
                requests_.push_back(seen);
            }
        }
        if (status == kHang) {
            hung_ = std::move(socket);  // kept open, unanswered
            return;
        }
        http::response<http::string_body> response{static_cast<http::status>(status), 11};
        response.body() = "{}";
        response.prepare_payload();
        http::write(*socket, response, error);
    }

    std::function<int(int)> behave_;
    asio::io_context io_;
    std::unique_ptr<tcp::acceptor> acceptor_;
    std::unique_ptr<tcp::socket> hung_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> attempts_{0};
    unsigned short port_ = 0;
    mutable std::mutex mutex_;
    std::vector<Request> requests_;
};

class AlertsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::ofstream(secret_path_) << kSecret << "\n";
        broker_ = std::make_unique<ChildProcess>(
            "broker",
            std::vector<std::string>{UL_BINARY, "broker", "--bootstrap-file", bootstrap_file_},
            dir_.path());
        ASSERT_TRUE(
            ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file_); }, 30s));
        ledger_ = std::make_unique<ChildProcess>(
            "ledger",
            std::vector<std::string>{UL_BINARY, "ledger", "--bootstrap-file", bootstrap_file_,
                                     "--data-dir", data_dir_, "--assign-all", "--max-event-age",
                                     "3650d"},
            dir_.path());
        ASSERT_TRUE(
            ul::test::wait_until([&] { return has(ledger_->stderr_text(), "assigned"); }, 60s))
            << ledger_->stderr_text();
    }
    std::unique_ptr<ChildProcess> project() {
        auto process = std::make_unique<ChildProcess>(
            "project",
            std::vector<std::string>{UL_BINARY, "project", "--bootstrap-file", bootstrap_file_,
                                     "--data-dir", data_dir_, "--assign-all", "--heal-from-ledger",
                                     "--listen", "127.0.0.1:0", "--admin-key", kAdmin,
                                     "--control-secret-file", control_secret_, "--webhook-retry",
                                     "100ms,2,1s,60s", "--webhook-timeout-ms", "700",
                                     // The test polls with one key: never 429.
                                     "--rate-limit", "100000", "--rate-burst", "100000"},
            dir_.path());
        address_ = ul::test::logged_api_address(*process, 60s);
        EXPECT_FALSE(address_.empty()) << process->stderr_text();
        return process;
    }
    void account_set(const std::string& tenant, const std::vector<std::string>& args) {
        std::vector<std::string> argv = {
            UL_BINARY,          "account",       "set",
            "--bootstrap-file", bootstrap_file_, "--control-secret-file",
            control_secret_,    "--tenant",      tenant,
            "--plan",           "free"};
        argv.insert(argv.end(), args.begin(), args.end());
        ChildProcess process("account", argv, dir_.path());
        ASSERT_EQ(process.wait(60s), std::optional<int>(0)) << process.stderr_text();
    }
    void emit(const std::vector<std::string>& lines) {
        const std::string file = (dir_.path() / ("events-" + std::to_string(++files_))).string();
        {
            std::ofstream out(file);
            for (const auto& line : lines) {
                out << line << "\n";
            }
        }
        ChildProcess process("emit",
                             {UL_BINARY, "emit", "--bootstrap-file", bootstrap_file_, "--file",
                              file, "--max-event-age", "3650d"},
                             dir_.path());
        ASSERT_EQ(process.wait(60s), std::optional<int>(0)) << process.stderr_text();
    }
    std::string alerts(const std::string& tenant) {
        return http_get(address_, "/v1/tenants/" + tenant + "/alerts", kAdmin).body;
    }

    TempDir dir_;
    std::string data_dir_ = (dir_.path() / "data").string();
    std::string bootstrap_file_ = (dir_.path() / "bootstrap").string();
    std::string control_secret_ = (dir_.path() / "control-plane.secret").string();
    std::string secret_path_ = (dir_.path() / "webhook.secret").string();
    std::unique_ptr<ChildProcess> broker_;
    std::unique_ptr<ChildProcess> ledger_;
    std::string address_;
    int files_ = 0;
};

std::string event(const std::string& key, const std::string& tenant, int quantity,
                  const std::string& time) {
    return R"({"idempotency_key":")" + key + R"(","tenant_id":")" + tenant +
           R"(","meter":"api_calls","quantity":)" + std::to_string(quantity) + R"(,"timestamp":")" +
           time + "\"}";
}

TEST_F(AlertsTest, EachCrossingIsRaisedAndDeliveredOnceThroughFailuresCrashesAndRebuilds) {
    Receiver healthy([](int) { return 200; });
    // beta's receiver: 500, then a hang (the sender's timeout), then — the test closes its port
    // meanwhile — connection refused; healthy after.
    Receiver flaky([](int n) { return n == 1 ? 500 : n == 2 ? Receiver::kHang : 200; });
    Receiver hanging([](int) { return Receiver::kHang; });
    auto live = project();
    ASSERT_FALSE(address_.empty());
    account_set("acme",
                {"--alert-webhook", healthy.url(), "--alert-webhook-secret-file", secret_path_});
    account_set(
        "beta",
        {"--alert-webhook", flaky.url(), "--alert-webhook-secret-file", secret_path_,
         "--alert-rule",
         R"({"id":"ten","meter":"api_calls","period":"month","threshold":{"amount":"10"}})"});
    account_set("gamma",
                {"--alert-webhook", hanging.url(), "--alert-webhook-secret-file", secret_path_,
                 "--alert-rule",
                 R"({"id":"one","meter":"api_calls","period":"day","threshold":{"amount":"1"}})"});
    // The accounts are in force before the first event (the rules are versions from now).
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            return has(http_get(address_, "/v1/tenants/gamma/alert-rules", kAdmin).body,
                       "\"id\":\"one\"");
        },
        60s));

    // gamma first: its receiver hangs from its first attempt on.
    emit({event("g-1", "gamma", 5, "2026-12-05T10:00:00Z")});
    ASSERT_TRUE(ul::test::wait_until([&] { return hanging.attempts() >= 1; }, 60s));
    // acme: 790 (79 %), other traffic, 20 (81 %), 150 late (96 %), 50 (101 %), 10 more.
    emit({event("a-1", "acme", 790, "2026-12-03T10:00:00Z"),
          event("o-1", "other", 3, "2026-12-03T10:00:01Z"),
          event("a-2", "acme", 20, "2026-12-04T10:00:00Z"),
          event("b-1", "beta", 12, "2026-12-04T10:00:02Z"),
          event("o-2", "other", 4, "2026-12-04T10:00:03Z"),
          event("a-3", "acme", 150, "2026-12-02T09:00:00Z"),
          event("a-4", "acme", 50, "2026-12-05T10:00:00Z"),
          event("a-5", "acme", 10, "2026-12-05T11:00:00Z")});

    // acme: exactly three alerts, delivered once each, signed — while gamma's receiver hangs
    // and beta's fails.
    ASSERT_TRUE(ul::test::wait_until([&] { return healthy.requests().size() >= 3; }, 60s))
        << live->stderr_text();
    const std::string listed = alerts("acme");
    EXPECT_EQ(count(listed, "\"id\":\"al_"), 3U) << listed;
    EXPECT_TRUE(has(
        listed,
        R"("threshold":{"percent":"0.8"},"rule":"plan","limit":"1000","used":"810","crossed_at":"2026-12-04T10:00:00Z")"))
        << listed;
    EXPECT_TRUE(has(
        listed,
        R"("threshold":{"percent":"0.95"},"rule":"plan","limit":"1000","used":"960","crossed_at":"2026-12-02T09:00:00Z")"))
        << listed;
    EXPECT_TRUE(has(
        listed,
        R"("threshold":{"percent":"1"},"rule":"plan","limit":"1000","used":"1010","crossed_at":"2026-12-05T10:00:00Z")"))
        << listed;
    // Newest first: the 100 % crossing (the latest entry) leads.
    EXPECT_LT(listed.find("\"percent\":\"1\""), listed.find("\"percent\":\"0.8\""));
    for (const auto& request : healthy.requests()) {
        EXPECT_TRUE(request.signature_ok) << request.signature;
        EXPECT_TRUE(has(listed, "\"id\":\"" + request.event_id + "\""));
        // One byte altered: a receiver that verifies rejects it.
        std::string altered = request.body;
        altered[altered.size() / 2] ^= 1;
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        EXPECT_FALSE(ul::verify_webhook_signature(kSecret, request.signature, altered, now));
    }
    // Counters and readiness are not held up by gamma's hanging receiver.
    EXPECT_TRUE(has(
        http_get(address_, "/v1/tenants/acme/usage?period=month&at=2026-12-05T00:00:00Z", kAdmin)
            .body,
        "\"used\":\"1020\""));
    EXPECT_EQ(http_get(address_, "/readyz").status, 200);

    // beta: 500, then a timeout; then its port is closed (connection refused), then open again.
    ASSERT_TRUE(ul::test::wait_until([&] { return flaky.attempts() >= 2; }, 60s));
    const unsigned short beta_port = flaky.port();
    flaky.close();
    std::string beta_id;
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            const std::string list = alerts("beta");
            const auto at = list.find("\"id\":\"al_");
            beta_id = at == std::string::npos ? "" : list.substr(at + 6, 35);
            return !beta_id.empty();
        },
        60s));
    auto beta_log = [&] {
        return http_get(address_, "/v1/tenants/beta/alerts/" + beta_id + "/deliveries", kAdmin)
            .body;
    };
    ASSERT_TRUE(ul::test::wait_until([&] { return count(beta_log(), "\"attempt\":") >= 3; }, 60s))
        << beta_log() << "\n"
        << alerts("beta") << "\n"
        << live->stderr_text();
    flaky.open(beta_port);
    ASSERT_TRUE(ul::test::wait_until([&] { return flaky.requests().size() == 1; }, 60s))
        << beta_log();
    EXPECT_TRUE(flaky.requests()[0].signature_ok);
    ASSERT_TRUE(ul::test::wait_until(
        [&] { return has(beta_log(), R"("delivery":{"status":"delivered")"); }, 30s))
        << beta_log();
    const std::string log = beta_log();
    EXPECT_TRUE(has(log, R"("attempt":1,)")) << log;
    EXPECT_TRUE(has(log, R"("status":500,"timed_out":false)")) << log;
    EXPECT_TRUE(has(log, R"("status":null,"timed_out":true)")) << log;
    EXPECT_TRUE(has(log, R"("outcome":"delivered")")) << log;
    EXPECT_GE(count(log, R"("outcome":"retry")"), 3U) << log;

    // kill -9 of the projection, restart: nothing raised or delivered again.
    ::kill(live->pid(), SIGKILL);
    (void)live->wait(30s);
    live = project();
    // A sentinel crossing after the restart: once it is delivered, anything raised again before
    // it would have been delivered too (the outbox is taken in order, one receiver in order).
    account_set("sentinel",
                {"--alert-webhook", healthy.url(), "--alert-webhook-secret-file", secret_path_});
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            return has(http_get(address_, "/v1/tenants/sentinel/alert-rules", kAdmin).body,
                       "\"webhook\":\"http://127.0.0.1");
        },
        60s));
    emit({event("a-6", "acme", 1, "2026-12-06T12:00:00Z"),
          event("s-1", "sentinel", 850, "2026-12-06T10:00:00Z")});
    ASSERT_TRUE(ul::test::wait_until([&] { return healthy.requests().size() >= 4; }, 60s))
        << live->stderr_text();
    EXPECT_EQ(count(alerts("acme"), "\"id\":\"al_"), 3U);

    // The projection's store rebuilt from usage.ledger's offset 0 (and the ledger store): the
    // same alert ids are decided again and the delivery store knows them all.
    ::kill(live->pid(), SIGTERM);
    ASSERT_EQ(live->wait(60s), std::optional<int>(0)) << live->stderr_text();
    std::filesystem::remove_all(data_dir_ + "/projections");
    live = project();
    account_set("sentinel2",
                {"--alert-webhook", healthy.url(), "--alert-webhook-secret-file", secret_path_});
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            return has(http_get(address_, "/v1/tenants/sentinel2/alert-rules", kAdmin).body,
                       "\"webhook\":\"http://127.0.0.1");
        },
        60s));
    emit({event("s-3", "sentinel2", 850, "2026-12-06T10:00:00Z")});
    ASSERT_TRUE(ul::test::wait_until([&] { return healthy.requests().size() >= 5; }, 60s))
        << live->stderr_text();
    EXPECT_EQ(count(alerts("acme"), "\"id\":\"al_"), 3U);
    std::map<std::string, int> seen;
    for (const auto& request : healthy.requests()) {
        ++seen[request.event_id];
    }
    EXPECT_EQ(seen.size(), 5U);
    EXPECT_EQ(healthy.requests().size(), 5U);
    for (const auto& [id, times] : seen) {
        EXPECT_EQ(times, 1) << id;
    }

    // A replay rebuilds the same alert rows byte for byte (compared with the live store at its
    // watermarks) and delivers nothing: it has no worker.
    ChildProcess replay("replay",
                        {UL_BINARY, "replay", "--ledger-dir", data_dir_, "--out",
                         (dir_.path() / "rebuilt").string(), "--verify", data_dir_},
                        dir_.path());
    ASSERT_EQ(replay.wait(120s), std::optional<int>(0)) << replay.stderr_text();
    EXPECT_TRUE(has(replay.stdout_text(), "\"differences\":0,")) << replay.stdout_text();
    EXPECT_FALSE(has(replay.stdout_text(), "\"rows_compared\":0,")) << replay.stdout_text();
    // Anything the replay POSTed would arrive before a new alert of the live process does.
    account_set("sentinel3",
                {"--alert-webhook", healthy.url(), "--alert-webhook-secret-file", secret_path_});
    ASSERT_TRUE(ul::test::wait_until(
        [&] {
            return has(http_get(address_, "/v1/tenants/sentinel3/alert-rules", kAdmin).body,
                       "\"webhook\":\"http://127.0.0.1");
        },
        60s));
    emit({event("s-5", "sentinel3", 850, "2026-12-06T10:00:00Z")});
    ASSERT_TRUE(ul::test::wait_until([&] { return healthy.requests().size() >= 6; }, 60s));
    EXPECT_EQ(healthy.requests().size(), 6U);

    // The routes answer like the other tenant routes.
    EXPECT_EQ(http_get(address_, "/v1/tenants/acme/alerts").status, 401);
    EXPECT_EQ(http_get(address_, "/v1/tenants/acme/alerts", "wrong-key").status, 401);
    EXPECT_EQ(http_get(address_, "/v1/tenants/a%20b/alerts", kAdmin).status, 400);
    EXPECT_EQ(http_get(address_, "/v1/tenants/acme/alerts?limit=0", kAdmin).status, 400);
    const auto page = http_get(address_, "/v1/tenants/acme/alerts?limit=2", kAdmin).body;
    EXPECT_EQ(count(page, "\"id\":\"al_"), 2U);
    const auto cursor_at = page.find("\"next_cursor\":\"") + 15;
    const auto cursor = page.substr(cursor_at, page.find('"', cursor_at) - cursor_at);
    const auto rest =
        http_get(address_, "/v1/tenants/acme/alerts?limit=2&cursor=" + cursor, kAdmin).body;
    EXPECT_EQ(count(rest, "\"id\":\"al_"), 1U) << rest;
    EXPECT_TRUE(has(rest, "\"next_cursor\":null"));
}

}  // namespace
