// `topics create` and the ledger's start-up check: which topics, with what settings, and what
// counts as a difference on an existing topic (pure; no broker).
#include <gtest/gtest.h>

#include "consumers/kafka_admin.h"

namespace {

using ul::kafka::TopicState;

TEST(KafkaTopics, FiveTopicsAccountsCompacted) {
    const auto topics = ul::kafka::usage_topics(4, 1);
    ASSERT_EQ(topics.size(), 5U);
    for (const auto& topic : topics) {
        EXPECT_EQ(topic.partitions, 4);
        EXPECT_EQ(topic.replication_factor, 1);
        EXPECT_EQ(topic.check_partitions,
                  topic.name == "usage.events" || topic.name == "usage.ledger");
        if (topic.name == "usage.accounts") {
            ASSERT_EQ(topic.configs.size(), 1U);
            EXPECT_EQ(topic.configs[0],
                      std::make_pair(std::string("cleanup.policy"), std::string("compact")));
            EXPECT_EQ(topic.required_cleanup_policy, "compact");
        } else {
            EXPECT_TRUE(topic.configs.empty()) << topic.name;
        }
    }
}

TEST(KafkaTopics, MinInsyncReplicasIsOneBelowTheReplicationFactor) {
    for (const auto& topic : ul::kafka::usage_topics(16, 3)) {
        ASSERT_FALSE(topic.configs.empty());
        EXPECT_EQ(topic.configs[0],
                  std::make_pair(std::string("min.insync.replicas"), std::string("2")));
    }
}

TEST(KafkaTopics, DifferenceNamesTheTopic) {
    const auto topics = ul::kafka::usage_topics(8, 1);
    const auto& events = topics[0];
    ASSERT_EQ(events.name, "usage.events");
    const auto difference = ul::kafka::topic_difference(events, TopicState{4, 1}, std::nullopt);
    ASSERT_TRUE(difference);
    EXPECT_NE(difference->find("usage.events has 4 partitions, expected 8"), std::string::npos)
        << *difference;
    EXPECT_FALSE(ul::kafka::topic_difference(events, TopicState{8, 3}, std::nullopt));
    // The dead-letter topic's count is not judged.
    EXPECT_FALSE(ul::kafka::topic_difference(topics[1], TopicState{1, 1}, std::nullopt));
}

TEST(KafkaTopics, AccountsMustBeCompacted) {
    const auto topics = ul::kafka::usage_topics(4, 1);
    const auto& accounts = topics[4];
    ASSERT_EQ(accounts.name, "usage.accounts");
    EXPECT_FALSE(ul::kafka::topic_difference(accounts, TopicState{9, 1}, "compact"));
    const auto difference = ul::kafka::topic_difference(accounts, TopicState{4, 1}, "delete");
    ASSERT_TRUE(difference);
    EXPECT_EQ(*difference, "usage.accounts has cleanup.policy=delete, expected compact");
    // Unknown (the broker cannot describe configurations): not judged here.
    EXPECT_FALSE(ul::kafka::topic_difference(accounts, TopicState{4, 1}, std::nullopt));
}

TEST(KafkaTopics, PartitionMismatchOnlyWhenBothExistAndDiffer) {
    EXPECT_FALSE(ul::kafka::partition_mismatch("usage.events", 16, "usage.ledger", 16));
    EXPECT_FALSE(ul::kafka::partition_mismatch("usage.events", 16, "usage.ledger", 0));
    EXPECT_FALSE(ul::kafka::partition_mismatch("usage.events", 0, "usage.ledger", 4));
    const auto mismatch = ul::kafka::partition_mismatch("usage.events", 8, "usage.ledger", 4);
    ASSERT_TRUE(mismatch);
    EXPECT_EQ(mismatch->rfind("usage.events has 8 partitions but usage.ledger has 4", 0), 0U)
        << *mismatch;
}

}  // namespace
