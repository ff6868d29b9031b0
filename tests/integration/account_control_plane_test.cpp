// The signed control plane over real sockets and processes: `broker`, `project` and
// `account set` / `account delete` as child processes, the query API over HTTP. Revoking,
// rotating and deleting a key take effect at once and survive a restart of `project` (also
// against a fresh broker, so from its store alone); a key another tenant holds is refused;
// records that are unsigned or signed with another secret change nothing.
#include <gtest/gtest.h>

#include <csignal>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "schemas/account.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka.h"
#include "tests/support/process.h"

namespace {

using namespace std::chrono_literals;
using ul::test::ChildProcess;
using ul::test::http_get;
using ul::test::TempDir;

constexpr char kAdmin[] = "admin-control-plane";

bool has(const std::string& body, const std::string& part) {
    return body.find(part) != std::string::npos;
}

// A broker and a `project` whose data dir also holds the bootstrap file, so `account` finds the
// control-plane secret `project` created (next to --bootstrap-file) without being told.
class Cluster {
  public:
    explicit Cluster(const std::filesystem::path& dir)
        : dir_(dir), data_dir_((dir / "data").string()), bootstrap_file_(data_dir_ + "/bootstrap") {
        std::filesystem::create_directories(data_dir_);
        start_broker();
        start_project();
    }
    void start_broker() {
        std::filesystem::remove(bootstrap_file_);
        broker_ = std::make_unique<ChildProcess>(
            "broker", std::vector<std::string>{UL_BINARY, "broker", "--bootstrap-file",
                                               bootstrap_file_},
            dir_);
        EXPECT_TRUE(
            ul::test::wait_until([&] { return std::filesystem::exists(bootstrap_file_); }, 30s));
    }
    void stop_broker() { broker_.reset(); }  // SIGKILL: the embedded broker forgets everything
    void start_project() {
        project_ = std::make_unique<ChildProcess>(
            "project",
            std::vector<std::string>{UL_BINARY, "project", "--bootstrap-file", bootstrap_file_,
                                     "--data-dir", data_dir_, "--assign-all", "--listen",
                                     "127.0.0.1:0", "--admin-key", kAdmin, "--rate-limit", "1000",
                                     "--rate-burst", "1000"},
            dir_);
        address_ = ul::test::logged_api_address(*project_, 60s);
        ASSERT_FALSE(address_.empty()) << project_->stderr_text();
        ASSERT_TRUE(ul::test::wait_until(
            [&] { return http_get(address_, "/readyz").status == 200; }, 60s))
            << http_get(address_, "/readyz").body;
    }
    void stop_project() {
        project_->signal(SIGTERM);
        EXPECT_EQ(project_->wait(60s), std::optional<int>(0)) << project_->stderr_text();
        project_.reset();
    }
    // `account` with these arguments (after the bootstrap file); its exit status.
    std::optional<int> account(const std::vector<std::string>& args) {
        std::vector<std::string> argv{UL_BINARY, "account", args.front(), "--bootstrap-file",
                                      bootstrap_file_};
        argv.insert(argv.end(), args.begin() + 1, args.end());
        ChildProcess process("account-" + args.front(), argv, dir_);
        const auto status = process.wait(60s);
        EXPECT_TRUE(status) << process.stderr_text();
        last_account_stderr_ = process.stderr_text();
        return status;
    }
    std::optional<int> set(const std::string& tenant, const std::string& key,
                           const std::vector<std::string>& more = {}) {
        std::vector<std::string> args{"set", "--tenant", tenant, "--plan", "free"};
        if (!key.empty()) {
            args.insert(args.end(), {"--api-key", key});
        }
        args.insert(args.end(), more.begin(), more.end());
        return account(args);
    }
    int status(const std::string& tenant, const std::string& key) const {
        return http_get(address_, "/v1/tenants/" + tenant + "/usage", key).status;
    }
    // Waits until `key` gets `expected` on the tenant's usage.
    bool wait_status(const std::string& tenant, const std::string& key, int expected) const {
        return ul::test::wait_until([&] { return status(tenant, key) == expected; }, 60s);
    }
    std::uint64_t rejected(const std::string& reason) const {
        const std::string body = http_get(address_, "/metrics").body;
        std::smatch match;
        const std::regex line("projection_account_records_rejected_total\\{reason=\"" + reason +
                              "\"\\} ([0-9]+)");
        return std::regex_search(body, match, line) ? std::stoull(match[1]) : 0;
    }
    bool wait_rejected(const std::string& reason, std::uint64_t at_least) const {
        return ul::test::wait_until([&] { return rejected(reason) >= at_least; }, 60s);
    }
    std::string admin_tenants() const {
        return http_get(address_, "/v1/admin/tenants", kAdmin).body;
    }
    std::string bootstrap() const {
        std::string text = ul::test::read_file(bootstrap_file_);
        text.erase(text.find_last_not_of("\n ") + 1);
        return text;
    }
    const std::string& data_dir() const { return data_dir_; }
    const ChildProcess& project() const { return *project_; }
    const std::string& last_account_stderr() const { return last_account_stderr_; }

  private:
    std::filesystem::path dir_;
    std::string data_dir_;
    std::string bootstrap_file_;
    std::unique_ptr<ChildProcess> broker_;
    std::unique_ptr<ChildProcess> project_;
    std::string address_;
    std::string last_account_stderr_;
};

class AccountControlPlaneTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        cluster_ = new Cluster(dir_->path());
    }
    static void TearDownTestSuite() {
        cluster_->stop_project();
        delete cluster_;
        delete dir_;
    }
    static TempDir* dir_;
    static Cluster* cluster_;
};

TempDir* AccountControlPlaneTest::dir_ = nullptr;
Cluster* AccountControlPlaneTest::cluster_ = nullptr;

TEST_F(AccountControlPlaneTest, TheSecretFileIsPrivate) {
    const auto path = std::filesystem::path(cluster_->data_dir()) / "control-plane.secret";
    ASSERT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_EQ(ul::test::read_file(path).size(), 65U);  // 64 hex digits and a newline
}

TEST_F(AccountControlPlaneTest, RotateRevokeAndDeleteTakeEffectAtOnce) {
    Cluster& cluster = *cluster_;
    ASSERT_EQ(cluster.set("rot", "rot-key-1"), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("rot", "rot-key-1", 200));
    // Rotate: the new key works, the old one is gone.
    ASSERT_EQ(cluster.set("rot", "rot-key-2"), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("rot", "rot-key-2", 200));
    EXPECT_EQ(cluster.status("rot", "rot-key-1"), 401);
    // Revoke: `account set` without a key publishes an account without one.
    ASSERT_EQ(cluster.set("rot", ""), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("rot", "rot-key-2", 401));
    EXPECT_TRUE(has(cluster.admin_tenants(), R"("tenant_id":"rot")")) << cluster.admin_tenants();
    // A new key, then delete: the key stops working and the tenant is gone.
    ASSERT_EQ(cluster.set("rot", "rot-key-3"), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("rot", "rot-key-3", 200));
    ASSERT_EQ(cluster.account({"delete", "--tenant", "rot"}), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("rot", "rot-key-3", 401));
    EXPECT_FALSE(has(cluster.admin_tenants(), R"("tenant_id":"rot")")) << cluster.admin_tenants();
}

TEST_F(AccountControlPlaneTest, AKeyAnotherTenantHoldsIsRejected) {
    Cluster& cluster = *cluster_;
    const std::uint64_t before = cluster.rejected("key_collision");
    ASSERT_EQ(cluster.set("holder", "shared-key"), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("holder", "shared-key", 200));
    ASSERT_EQ(cluster.set("thief", "shared-key"), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_rejected("key_collision", before + 1));
    EXPECT_EQ(cluster.status("holder", "shared-key"), 200);  // still holder's
    EXPECT_EQ(cluster.status("thief", "shared-key"), 403);   // and not thief's
    EXPECT_FALSE(has(cluster.admin_tenants(), R"("tenant_id":"thief")"))
        << cluster.admin_tenants();
    EXPECT_TRUE(has(cluster.project().stderr_text(), "is a key of tenant 'holder'"));
}

TEST_F(AccountControlPlaneTest, UnsignedAndWronglySignedRecordsChangeNothing) {
    Cluster& cluster = *cluster_;
    ASSERT_EQ(cluster.set("keep", "keep-key"), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("keep", "keep-key", 200));
    const std::uint64_t unsigned_before = cluster.rejected("unsigned");
    const std::uint64_t bad_before = cluster.rejected("bad_signature");

    // Raw librdkafka, no signature: a new tenant, a re-key of keep, a tombstone of keep.
    ul::Account intruder;
    intruder.tenant_id = "intruder";
    intruder.plan = "free";
    intruder.api_key_sha256 = ul::sha256_hex("intruder-key");
    intruder.updated_at_us = 4'000'000'000'000'000;  // far in the future: still not accepted
    ul::Account rekeyed = intruder;
    rekeyed.tenant_id = "keep";
    {
        ul::test::RawProducer producer(cluster.bootstrap());
        producer.produce("usage.accounts", "intruder", ul::account_json(intruder));
        producer.produce("usage.accounts", "keep", ul::account_json(rekeyed));
        producer.produce("usage.accounts", "keep", std::nullopt, {});
        // Signed with another secret: an account and a tombstone.
        const std::string wrong(64, 'a');
        const auto signed_wrong = ul::signed_account_record(wrong, rekeyed);
        producer.produce("usage.accounts", signed_wrong.key, signed_wrong.value,
                         signed_wrong.headers);
        const auto tombstone = ul::signed_tombstone_record(wrong, "keep", 4'000'000'000'000'000);
        producer.produce("usage.accounts", tombstone.key, tombstone.value, tombstone.headers);
        ASSERT_TRUE(producer.flush(30'000));
    }
    // `account set` itself with another secret file.
    const auto other = dir_->path() / "other.secret";
    std::ofstream(other) << std::string(64, 'b') << "\n";
    ASSERT_EQ(cluster.set("keep", "other-key", {"--control-secret-file", other.string()}),
              std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_rejected("unsigned", unsigned_before + 3));
    ASSERT_TRUE(cluster.wait_rejected("bad_signature", bad_before + 3));
    EXPECT_EQ(cluster.status("keep", "keep-key"), 200);
    EXPECT_EQ(cluster.status("keep", "intruder-key"), 401);
    EXPECT_EQ(cluster.status("keep", "other-key"), 401);
    EXPECT_EQ(cluster.status("intruder", "intruder-key"), 401);
    EXPECT_FALSE(has(cluster.admin_tenants(), R"("tenant_id":"intruder")"));
    EXPECT_TRUE(has(cluster.project().stderr_text(), "record of tenant 'intruder' ignored"));

    // A missing secret file is a clear error, exit 1.
    EXPECT_EQ(cluster.set("keep", "x", {"--control-secret-file", (dir_->path() / "none").string()}),
              std::optional<int>(1));
    EXPECT_TRUE(has(cluster.last_account_stderr(), "control-plane secret"))
        << cluster.last_account_stderr();
}

TEST(AccountControlPlaneRestartTest, RevokedAndDeletedStaySoAfterARestart) {
    TempDir dir;
    Cluster cluster(dir.path());
    ASSERT_EQ(cluster.set("stays", "stays-key"), std::optional<int>(0));
    ASSERT_EQ(cluster.set("revoked", "revoked-key"), std::optional<int>(0));
    ASSERT_EQ(cluster.set("deleted", "deleted-key"), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("revoked", "revoked-key", 200));
    ASSERT_TRUE(cluster.wait_status("deleted", "deleted-key", 200));
    ASSERT_EQ(cluster.set("revoked", ""), std::optional<int>(0));
    ASSERT_EQ(cluster.account({"delete", "--tenant", "deleted"}), std::optional<int>(0));
    ASSERT_TRUE(cluster.wait_status("revoked", "revoked-key", 401));
    ASSERT_TRUE(cluster.wait_status("deleted", "deleted-key", 401));

    auto check = [&](const char* when) {
        SCOPED_TRACE(when);
        EXPECT_EQ(cluster.status("stays", "stays-key"), 200);
        EXPECT_EQ(cluster.status("revoked", "revoked-key"), 401);
        EXPECT_EQ(cluster.status("deleted", "deleted-key"), 401);
        const std::string tenants = cluster.admin_tenants();
        EXPECT_FALSE(has(tenants, R"("tenant_id":"deleted")")) << tenants;
        EXPECT_TRUE(has(tenants, R"("tenant_id":"revoked")")) << tenants;
        // Every record read again is either the same or older: no error for any of them.
        EXPECT_FALSE(has(cluster.project().stderr_text(), " ignored: "))
            << cluster.project().stderr_text();
    };
    // The same broker: usage.accounts is read again from its start (older records are stale).
    cluster.stop_project();
    cluster.start_project();
    check("restart, same broker");
    // A fresh broker (empty usage.accounts): what counts is the projection store alone.
    cluster.stop_project();
    cluster.stop_broker();
    cluster.start_broker();
    cluster.start_project();
    check("restart, fresh broker");
    cluster.stop_project();
}

}  // namespace
