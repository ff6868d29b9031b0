// ApiKeys: admin keys and one key per tenant, kept only as SHA-256 hashes and found from the
// Authorization header ("Bearer <key>").
#include "projections/api/api_keys.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "projections/api/account_put.h"

namespace {

// Sets `tenant`'s only key (every scope), as an account with api_key_sha256 does.
void set_only_key(ul::ApiKeys& keys, const std::string& tenant, const std::string& key) {
    keys.replace_tenant_keys({{tenant, "default", ul::sha256_hex(key), ul::kScopesAll}});
}

TEST(ApiKeys, Sha256HexIsLowercaseHex) {
    // FIPS 180-2's test vectors.
    EXPECT_EQ(ul::sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(ul::sha256_hex(""),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ApiKeys, AnAdminKeyIsAnAdmin) {
    ul::ApiKeys keys;
    keys.add_admin_key("root-secret");
    keys.add_admin_key("second-admin");
    const auto principal = keys.find("Bearer root-secret");
    ASSERT_TRUE(principal);
    EXPECT_TRUE(principal->admin);
    EXPECT_EQ(principal->tenant_id, "");
    ASSERT_TRUE(keys.find("Bearer second-admin"));
    EXPECT_TRUE(keys.find("Bearer second-admin")->admin);
    EXPECT_FALSE(keys.find("Bearer root-secre"));
    EXPECT_FALSE(keys.find("Bearer root-secret2"));
}

TEST(ApiKeys, ATenantKeyNamesItsTenant) {
    ul::ApiKeys keys;
    keys.replace_tenant_keys({{"acme", "k1", ul::sha256_hex("acme-key"), ul::kScopesAll},
                              {"globex", "k2", ul::sha256_hex("globex-key"), ul::kScopesAll}});
    const auto acme = keys.find("Bearer acme-key");
    ASSERT_TRUE(acme);
    EXPECT_FALSE(acme->admin);
    EXPECT_EQ(acme->tenant_id, "acme");
    ASSERT_TRUE(keys.find("Bearer globex-key"));
    EXPECT_EQ(keys.find("Bearer globex-key")->tenant_id, "globex");
    // The hash itself is not a key.
    EXPECT_FALSE(keys.find("Bearer " + ul::sha256_hex("acme-key")));
}

TEST(ApiKeys, AReplacedTenantKeyNoLongerWorks) {
    ul::ApiKeys keys;
    set_only_key(keys, "acme", "old");
    set_only_key(keys, "acme", "new");
    EXPECT_FALSE(keys.find("Bearer old"));
    ASSERT_TRUE(keys.find("Bearer new"));
    EXPECT_EQ(keys.find("Bearer new")->tenant_id, "acme");
    // Setting the same key again changes nothing.
    set_only_key(keys, "acme", "new");
    ASSERT_TRUE(keys.find("Bearer new"));
}

TEST(ApiKeys, MalformedHeadersAreUnknown) {
    ul::ApiKeys keys;
    keys.add_admin_key("root");
    set_only_key(keys, "acme", "x");
    for (const std::string header :
         {"", "Bearer", "Bearer ", "Basic x", "Basic cm9vdA==", "bearer root", "BEARER root",
          "root", "Bearer  root", "Bearerroot", " Bearer root", "Token root"}) {
        EXPECT_FALSE(keys.find(header)) << "'" << header << "'";
    }
    EXPECT_TRUE(keys.find("Bearer root"));
    EXPECT_TRUE(keys.find("Bearer x"));
}

TEST(ApiKeys, KeysChangeWhileOthersAreFound) {
    ul::ApiKeys keys;
    keys.add_admin_key("root");
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (int round = 0; round < 2000; ++round) {
            set_only_key(keys, "acme", "k" + std::to_string(round));
        }
        done = true;
    });
    int found = 0;
    while (!done.load()) {
        found += keys.find("Bearer root") ? 1 : 0;
    }
    writer.join();
    EXPECT_GT(found, 0);
    EXPECT_EQ(keys.find("Bearer k1999")->tenant_id, "acme");
    EXPECT_FALSE(keys.find("Bearer k1998"));
}

}  // namespace

namespace {

TEST(ApiKeys, ReplacingTheTenantKeysDropsRemovedAndChangedOnes) {
    ul::ApiKeys keys;
    keys.add_admin_key("root");
    keys.replace_tenant_keys({{"acme", "k", ul::sha256_hex("acme-1"), ul::kScopesAll},
                              {"globex", "k", ul::sha256_hex("globex-1"), ul::kScopesAll},
                              {"initech", "k", ul::sha256_hex("initech-1"), ul::kScopesAll}});
    ASSERT_TRUE(keys.find("Bearer acme-1"));
    ASSERT_TRUE(keys.find("Bearer initech-1"));
    // acme rotates, globex loses its key (account without one), initech is deleted.
    keys.replace_tenant_keys({{"acme", "k", ul::sha256_hex("acme-2"), ul::kScopesAll},
                              {"globex", "k", "", ul::kScopesAll}});
    EXPECT_FALSE(keys.find("Bearer acme-1"));
    ASSERT_TRUE(keys.find("Bearer acme-2"));
    EXPECT_EQ(keys.find("Bearer acme-2")->tenant_id, "acme");
    EXPECT_FALSE(keys.find("Bearer globex-1"));
    EXPECT_FALSE(keys.find("Bearer initech-1"));
    ASSERT_TRUE(keys.find("Bearer root"));  // admin keys are not tenant keys
    EXPECT_TRUE(keys.find("Bearer root")->admin);
}

TEST(ApiKeys, AKeyTwoTenantsClaimNamesNeither) {
    ul::ApiKeys keys;
    keys.replace_tenant_keys({{"acme", "k", ul::sha256_hex("same"), ul::kScopesAll},
                              {"globex", "k", ul::sha256_hex("same"), ul::kScopesAll}});
    EXPECT_FALSE(keys.find("Bearer same"));
}

TEST(ApiKeys, AKeyCarriesItsIdAndScopes) {
    ul::ApiKeys keys;
    keys.add_admin_key("root");
    keys.replace_tenant_keys(
        {{"acme", "key_ingest", ul::sha256_hex("i"), ul::kScopeIngest},
         {"acme", "key_reader", ul::sha256_hex("r"), ul::kScopeRead},
         {"acme", "key_admin", ul::sha256_hex("a"), ul::kScopeAdmin | ul::kScopeRead}});
    const auto ingest = keys.find("Bearer i");
    ASSERT_TRUE(ingest);
    EXPECT_EQ(ingest->key_id, "key_ingest");
    EXPECT_TRUE(ingest->may(ul::kScopeIngest));
    EXPECT_FALSE(ingest->may(ul::kScopeRead));
    EXPECT_FALSE(ingest->may(ul::kScopeAdmin));
    EXPECT_TRUE(keys.find("Bearer r")->may(ul::kScopeRead));
    EXPECT_FALSE(keys.find("Bearer r")->may(ul::kScopeIngest));
    EXPECT_TRUE(keys.find("Bearer a")->may(ul::kScopeAdmin));
    // A server admin key may do everything.
    EXPECT_TRUE(keys.find("Bearer root")->may(ul::kScopeIngest));
}

TEST(ApiKeys, LastUseIsRememberedAcrossRebuilds) {
    ul::ApiKeys keys;
    keys.replace_tenant_keys({{"acme", "key_a", ul::sha256_hex("a"), ul::kScopesAll}});
    EXPECT_FALSE(keys.last_used("acme", "key_a"));
    ASSERT_TRUE(keys.find("Bearer a", 1'000));
    EXPECT_EQ(keys.last_used("acme", "key_a"), 1'000);
    // Another key added: the first one's last use stays.
    keys.replace_tenant_keys({{"acme", "key_a", ul::sha256_hex("a"), ul::kScopesAll},
                              {"acme", "key_b", ul::sha256_hex("b"), ul::kScopesAll}});
    EXPECT_EQ(keys.last_used("acme", "key_a"), 1'000);
    EXPECT_FALSE(keys.last_used("acme", "key_b"));
    EXPECT_FALSE(keys.last_used("globex", "key_a"));
    EXPECT_FALSE(keys.find("Bearer nope", 2'000));
    EXPECT_EQ(keys.last_used("acme", "key_a"), 1'000);
}

TEST(ApiKeys, ScopesParseAndPrint) {
    EXPECT_EQ(ul::parse_scopes({"read", "ingest"}).value(), ul::kScopeRead | ul::kScopeIngest);
    EXPECT_EQ(ul::parse_scopes({"admin"}).value(), ul::kScopeAdmin);
    EXPECT_FALSE(ul::parse_scopes({}));
    EXPECT_FALSE(ul::parse_scopes({"write"}));
    EXPECT_FALSE(ul::parse_scopes({"read", "read"}));
    EXPECT_EQ(ul::scopes_json(ul::kScopesAll), R"(["read","ingest","admin"])");
    EXPECT_EQ(ul::scopes_json(ul::kScopeIngest), R"(["ingest"])");
}

TEST(ApiKeys, AccountKeysRoundTripAndOnlyActiveOnesGrant) {
    ul::Account account;
    account.tenant_id = "acme";
    account.plan = "pro";
    account.updated_at_us = 1'700'000'000'000'000;
    account.api_key_sha256 = ul::sha256_hex("legacy");
    account.api_keys.push_back(
        {"key_1", "ci", ul::sha256_hex("one"), ul::kScopeIngest, 1'700'000'000'000'000, 0});
    account.api_keys.push_back({"key_2", "old \"dashboard\"", ul::sha256_hex("two"), ul::kScopeRead,
                                1'600'000'000'000'000, 1'650'000'000'000'000});
    const std::string json = ul::account_json(account);
    auto parsed = ul::parse_account(json);
    ASSERT_TRUE(parsed) << parsed.error() << "\n" << json;
    EXPECT_EQ(*parsed, account);
    // Redacted: no hashes of the keys.
    EXPECT_EQ(ul::account_json(account, true).find(ul::sha256_hex("one")), std::string::npos);
    const auto active = ul::active_keys(account);
    ASSERT_EQ(active.size(), 2U);
    EXPECT_EQ(active[0].id, "default");
    EXPECT_EQ(active[0].scopes, ul::kScopesAll);
    EXPECT_EQ(active[1].id, "key_1");
    EXPECT_EQ(active[1].scopes, ul::kScopeIngest);
}

TEST(ApiKeys, BadAccountKeysAreRefusedNamingTheField) {
    const std::string head = R"({"tenant_id":"acme","plan":"pro","api_keys":[)";
    const std::string hash(64, 'a');
    const std::string good = R"({"id":"key_1","name":"ci","sha256":")" + hash +
                             R"(","scopes":["read"],"created_at":"2026-01-01T00:00:00Z"})";
    ASSERT_TRUE(ul::parse_account(head + good + "]}"));
    const std::pair<std::string, std::string> cases[] = {
        {good + "," + good, "used twice"},
        {R"({"id":"key_1","name":"ci","sha256":"xyz","scopes":["read"],"created_at":"2026-01-01T00:00:00Z"})",
         "api_keys[0].sha256"},
        {R"({"id":"key_1","name":"ci","sha256":")" + hash +
             R"(","scopes":[],"created_at":"2026-01-01T00:00:00Z"})",
         "api_keys[0].scopes"},
        {R"({"id":"key_1","name":"ci","sha256":")" + hash + R"(","scopes":["read"]})",
         "api_keys[0].created_at: required"},
        {R"({"id":"default","name":"ci","sha256":")" + hash +
             R"(","scopes":["read"],"created_at":"2026-01-01T00:00:00Z"})",
         "api_keys[0].id"},
        {R"({"id":"key_1","name":"ci","sha256":")" + hash +
             R"(","scopes":["read"],"created_at":"2026-01-01T00:00:00Z","x":1})",
         "unknown field 'x'"},
    };
    for (const auto& [keys, expected] : cases) {
        auto parsed = ul::parse_account(head + keys + "]}");
        ASSERT_FALSE(parsed) << keys;
        EXPECT_NE(parsed.error().find(expected), std::string::npos) << parsed.error();
    }
}

}  // namespace

namespace {

TEST(AccountFromPut, TheBodyIsTheAccountWithoutTenantTimeAndKeys) {
    const std::int64_t now = 1'800'000'000'000'000;
    auto account = ul::account_from_put(
        "acme",
        R"({"plan":"pro","billing_anchor_day":15,"time_zone":"Europe/Paris",)"
        R"("alert_rules":[{"id":"half","meter":"tokens","period":"month","threshold":{"percent":"0.5"}}]})",
        now);
    ASSERT_TRUE(account) << account.error();
    EXPECT_EQ(account->tenant_id, "acme");
    EXPECT_EQ(account->plan, "pro");
    EXPECT_EQ(account->billing_anchor_day, 15);
    EXPECT_EQ(account->time_zone, "Europe/Paris");
    EXPECT_EQ(account->updated_at_us, now);
    ASSERT_EQ(account->alert_rules.size(), 1U);
    // What `account set --url` sends reads back as the account, keys and times aside.
    ul::Account sent = *account;
    sent.alert_webhook_url = "https://hooks.example.com/x";
    sent.alert_webhook_secret = "s3cret";
    auto read_back = ul::account_from_put("acme", ul::account_put_json(sent), now);
    ASSERT_TRUE(read_back) << read_back.error();
    EXPECT_EQ(*read_back, sent);
    // No zone: UTC, said explicitly.
    EXPECT_EQ(ul::account_from_put("acme", R"({"plan":"free"})", now)->time_zone, "UTC");
    // The path's tenant may be repeated.
    EXPECT_TRUE(ul::account_from_put("acme", R"({"tenant_id":"acme","plan":"free"})", now));
}

TEST(AccountFromPut, RefusalsNameTheField) {
    const std::pair<const char*, const char*> cases[] = {
        {"not json", "JSON object"},
        {"[1]", "JSON object"},
        {R"({"billing_anchor_day":1})", "account.plan: required"},
        {R"({"plan":"pro","tenant_id":"globex"})", "account.tenant_id"},
        {R"({"plan":"pro","updated_at":"2026-01-01T00:00:00Z"})", "account.updated_at"},
        {R"({"plan":"pro","api_keys":[]})", "account.api_keys"},
        {R"({"plan":"pro","api_key_sha256":""})", "account.api_key_sha256"},
        {R"({"plan":"pro","time_zone":"Mars/Olympus"})", "account.time_zone"},
        {R"({"plan":"pro","billing_anchor_day":32})", "account.billing_anchor_day"},
        {R"({"plan":"pro","colour":"red"})", "unknown field 'colour'"},
    };
    for (const auto& [body, expected] : cases) {
        auto account = ul::account_from_put("acme", body, 1);
        ASSERT_FALSE(account) << body;
        EXPECT_NE(account.error().find(expected), std::string::npos)
            << body << " → " << account.error();
    }
}

}  // namespace
