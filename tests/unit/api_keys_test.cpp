// ApiKeys: admin keys and one key per tenant, kept only as SHA-256 hashes and found from the
// Authorization header ("Bearer <key>").
#include "projections/api/api_keys.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

namespace {

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
    keys.set_tenant_key_hash("acme", ul::sha256_hex("acme-key"));
    keys.set_tenant_key_hash("globex", ul::sha256_hex("globex-key"));
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
    keys.set_tenant_key_hash("acme", ul::sha256_hex("old"));
    keys.set_tenant_key_hash("acme", ul::sha256_hex("new"));
    EXPECT_FALSE(keys.find("Bearer old"));
    ASSERT_TRUE(keys.find("Bearer new"));
    EXPECT_EQ(keys.find("Bearer new")->tenant_id, "acme");
    // Setting the same key again changes nothing.
    keys.set_tenant_key_hash("acme", ul::sha256_hex("new"));
    ASSERT_TRUE(keys.find("Bearer new"));
}

TEST(ApiKeys, AKeyMovedToAnotherTenantStaysWithIt) {
    ul::ApiKeys keys;
    keys.set_tenant_key_hash("acme", ul::sha256_hex("shared"));
    keys.set_tenant_key_hash("globex", ul::sha256_hex("shared"));
    ASSERT_TRUE(keys.find("Bearer shared"));
    EXPECT_EQ(keys.find("Bearer shared")->tenant_id, "globex");
    // acme's next key must not take globex's away.
    keys.set_tenant_key_hash("acme", ul::sha256_hex("acme-own"));
    ASSERT_TRUE(keys.find("Bearer shared"));
    EXPECT_EQ(keys.find("Bearer shared")->tenant_id, "globex");
    EXPECT_EQ(keys.find("Bearer acme-own")->tenant_id, "acme");
}

TEST(ApiKeys, MalformedHeadersAreUnknown) {
    ul::ApiKeys keys;
    keys.add_admin_key("root");
    keys.set_tenant_key_hash("acme", ul::sha256_hex("x"));
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
            keys.set_tenant_key_hash("acme", ul::sha256_hex("k" + std::to_string(round)));
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
    keys.replace_tenant_keys({{"acme", ul::sha256_hex("acme-1")},
                              {"globex", ul::sha256_hex("globex-1")},
                              {"initech", ul::sha256_hex("initech-1")}});
    ASSERT_TRUE(keys.find("Bearer acme-1"));
    ASSERT_TRUE(keys.find("Bearer initech-1"));
    // acme rotates, globex loses its key (account without one), initech is deleted.
    keys.replace_tenant_keys({{"acme", ul::sha256_hex("acme-2")}, {"globex", ""}});
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
    keys.replace_tenant_keys(
        {{"acme", ul::sha256_hex("same")}, {"globex", ul::sha256_hex("same")}});
    EXPECT_FALSE(keys.find("Bearer same"));
}

}  // namespace
