// --kafka-config: only connection settings pass; the guarantees set in code cannot be changed.
#include <gtest/gtest.h>

#include "consumers/kafka.h"

namespace {

TEST(KafkaSettings, ConnectionSettingsPassInOrder) {
    auto parsed = ul::kafka::parse_connection_settings(
        {"security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512", "sasl.password=a=b",
         "ssl.ca.location=/etc/ca.pem", "client.dns.lookup=use_all_dns_ips"});
    ASSERT_TRUE(parsed) << parsed.error();
    ASSERT_EQ(parsed->size(), 5U);
    EXPECT_EQ((*parsed)[2], std::make_pair(std::string("sasl.password"), std::string("a=b")));
    const auto merged = ul::kafka::with_settings({{"acks", "all"}}, *parsed);
    ASSERT_EQ(merged.size(), 6U);
    EXPECT_EQ(merged.front().first, "acks");
    EXPECT_EQ(merged.back().first, "client.dns.lookup");
}

TEST(KafkaSettings, EverythingElseIsRefusedByName) {
    for (const char* bad : {"enable.idempotence=false", "acks=1", "enable.auto.commit=true",
                            "auto.offset.reset=latest", "security=SSL", "=x", "sasl.mechanism"}) {
        auto parsed = ul::kafka::parse_connection_settings({bad});
        EXPECT_FALSE(parsed) << bad;
        if (!parsed) {
            EXPECT_NE(parsed.error().find("--kafka-config"), std::string::npos) << parsed.error();
        }
    }
}

}  // namespace
