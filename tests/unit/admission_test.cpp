// Pure admission: examples, an exhaustive check of every small batch against a sequential
// reference model, and a seeded property test (seed printed; UL_TEST_SEED replays one).
#include "ledger/admission.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <random>

namespace ul {
namespace {

Candidate valid(std::string_view tenant, std::string_view key, std::uint64_t payload) {
    return Candidate{true, Reason::malformed_json, dedup_key(tenant, key), PayloadHash{0, payload}};
}
Candidate invalid(Reason reason) {
    return Candidate{false, reason, {}, {}};
}
StoredKey stored_with(std::uint64_t payload, std::uint32_t partition = 0,
                      std::uint64_t sequence = 0) {
    return StoredKey{true, PayloadHash{0, payload}, partition, sequence};
}

std::vector<Decision> admit(const std::vector<Candidate>& batch,
                            const std::vector<StoredKey>& stored) {
    Admitter admitter;
    std::vector<Decision> out(batch.size());
    admitter.admit(batch, stored, out);
    return out;
}

std::vector<Verdict> verdicts(const std::vector<Decision>& decisions) {
    std::vector<Verdict> out;
    for (const auto& decision : decisions) {
        out.push_back(decision.verdict);
    }
    return out;
}

std::uint64_t test_seed(const char* name) {
    const char* forced = std::getenv("UL_TEST_SEED");
    const std::uint64_t seed =
        forced != nullptr ? std::strtoull(forced, nullptr, 10) : std::random_device{}();
    std::printf("%s seed %llu (UL_TEST_SEED=%llu replays it)\n", name,
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    return seed;
}

// The reference: messages one at a time against a std::map, the first of a key wins.
struct Reference {
    struct Winner {
        std::uint64_t payload;
        std::uint32_t earlier;  // kDecidedByStore or the batch index that was accepted
    };
    std::map<DedupKey, Winner> winners;

    Decision decide(const Candidate& candidate, std::uint32_t index) {
        if (!candidate.valid) {
            return Decision{Verdict::invalid, candidate.reason, kDecidedByStore};
        }
        auto [found, inserted] =
            winners.try_emplace(candidate.key, Winner{candidate.payload.low, index});
        if (inserted) {
            return Decision{Verdict::accepted, Reason::malformed_json, kDecidedByStore};
        }
        return Decision{
            found->second.payload == candidate.payload.low ? Verdict::duplicate : Verdict::conflict,
            Reason::malformed_json, found->second.earlier};
    }
};

TEST(DedupKey, SeparatesTenantFromKey) {
    EXPECT_NE(dedup_key("ab", "c"), dedup_key("a", "bc"));
    EXPECT_NE(dedup_key("acme", "k"), dedup_key("other", "k"));
    EXPECT_NE(dedup_key("acme", "k"), dedup_key("acme", "K"));
    EXPECT_EQ(dedup_key("acme", "k"), dedup_key("acme", "k"));
}

TEST(DedupKey, IsXxh3Of128BitsOverTenantZeroKey) {
    // Pinned: every stored ledger's dedup keys depend on it never changing. (XXH3_128bits of
    // the 13 bytes "acme", 0x00, "req-7f3a", computed independently with libxxhash.)
    EXPECT_EQ(dedup_key("acme", "req-7f3a"),
              (DedupKey{0xc990157e2a2fdb5aULL, 0x33b0a8068173af88ULL}));
    // Longest tenant and key still fit.
    const std::string tenant(kMaxTenantBytes, 't');
    const std::string idempotency(kMaxKeyBytes, 'k');
    EXPECT_NE(dedup_key(tenant, idempotency), dedup_key(tenant, idempotency.substr(1)));
}

TEST(Admission, DecidesAgainstTheStore) {
    const std::vector<Candidate> batch = {valid("acme", "new", 1), valid("acme", "old", 2),
                                          valid("acme", "changed", 3),
                                          invalid(Reason::bad_quantity)};
    const std::vector<StoredKey> stored = {{}, stored_with(2), stored_with(99), {}};
    const auto decisions = admit(batch, stored);
    EXPECT_EQ(verdicts(decisions), (std::vector<Verdict>{Verdict::accepted, Verdict::duplicate,
                                                         Verdict::conflict, Verdict::invalid}));
    EXPECT_EQ(decisions[1].earlier, kDecidedByStore);
    EXPECT_EQ(decisions[2].earlier, kDecidedByStore);
    EXPECT_EQ(decisions[3].reason, Reason::bad_quantity);
}

TEST(Admission, TheFirstInTheBatchWins) {
    const std::vector<Candidate> batch = {valid("acme", "k", 1), valid("acme", "k", 1),
                                          valid("acme", "k", 2), valid("beta", "k", 2),
                                          valid("acme", "k", 1)};
    const std::vector<StoredKey> stored(batch.size());
    const auto decisions = admit(batch, stored);
    EXPECT_EQ(verdicts(decisions),
              (std::vector<Verdict>{Verdict::accepted, Verdict::duplicate, Verdict::conflict,
                                    Verdict::accepted, Verdict::duplicate}));
    EXPECT_EQ(decisions[1].earlier, 0U);
    EXPECT_EQ(decisions[2].earlier, 0U);
    EXPECT_EQ(decisions[4].earlier, 0U);
}

TEST(Admission, AConflictFirstInTheBatchDoesNotBecomeTheWinner) {
    const std::vector<Candidate> batch = {valid("acme", "k", 2), valid("acme", "k", 1)};
    const std::vector<StoredKey> stored(2, stored_with(1));
    EXPECT_EQ(verdicts(admit(batch, stored)),
              (std::vector<Verdict>{Verdict::conflict, Verdict::duplicate}));
}

TEST(Admission, EmptyAndAllInvalidBatches) {
    EXPECT_TRUE(admit({}, {}).empty());
    const std::vector<Candidate> batch = {invalid(Reason::too_large), invalid(Reason::bad_utf8)};
    const auto decisions = admit(batch, std::vector<StoredKey>(2));
    EXPECT_EQ(decisions[0], (Decision{Verdict::invalid, Reason::too_large, kDecidedByStore}));
    EXPECT_EQ(decisions[1], (Decision{Verdict::invalid, Reason::bad_utf8, kDecidedByStore}));
}

TEST(Admission, ThePresortedEntryPointChecksItsOrder) {
    const std::vector<Candidate> batch = {valid("acme", "a", 1), valid("acme", "b", 1)};
    const std::vector<StoredKey> stored(2);
    std::vector<Decision> out(2);
    std::vector<std::uint32_t> order;
    Admitter::key_order(batch, order);
    std::vector<std::uint32_t> reversed(order.rbegin(), order.rend());
    EXPECT_DEATH(Admitter::admit_in_key_order(batch, stored, reversed, out), "not sorted");
    EXPECT_DEATH(Admitter::admit_in_key_order(batch, stored, std::vector<std::uint32_t>{0}, out),
                 "every valid candidate");
}

TEST(Admission, CountsEveryMessageExactlyOnce) {
    OutcomeCounts counts;
    counts.add({Verdict::accepted, Reason::malformed_json});
    counts.add({Verdict::invalid, Reason::bad_meter});
    counts.add({Verdict::invalid, Reason::bad_meter});
    counts.add({Verdict::conflict, Reason::malformed_json});
    counts.add({Verdict::duplicate, Reason::bad_meter});  // the reason of a valid one is ignored
    EXPECT_EQ(counts.consumed(), 5U);
    EXPECT_EQ(counts.accepted, 1U);
    EXPECT_EQ(counts.duplicate, 1U);
    EXPECT_EQ(counts.conflict, 1U);
    EXPECT_EQ(counts.dead_lettered, 2U);
    EXPECT_EQ(counts.dead_lettered_by_reason[static_cast<std::size_t>(Reason::bad_meter)], 2U);
    std::uint64_t by_reason = 0;
    for (const auto count : counts.dead_lettered_by_reason) {
        by_reason += count;
    }
    EXPECT_EQ(by_reason, counts.dead_lettered);
}

// Every batch of up to 5 messages over two keys, two payloads and an invalid message, against
// every stored state of the two keys (absent, payload 1, payload 2): 9 × 3,906 cases.
TEST(Admission, ExhaustivelyMatchesTheReferenceOnSmallBatches) {
    const DedupKey keys[2] = {dedup_key("acme", "a"), dedup_key("acme", "b")};
    std::size_t cases = 0;
    for (int stored_state = 0; stored_state < 9; ++stored_state) {
        const int states[2] = {stored_state % 3, stored_state / 3};  // 0 absent, else payload
        for (std::size_t length = 0; length <= 5; ++length) {
            std::size_t combinations = 1;
            for (std::size_t position = 0; position < length; ++position) {
                combinations *= 5;
            }
            for (std::size_t code = 0; code < combinations; ++code) {
                std::vector<Candidate> batch;
                std::size_t rest = code;
                for (std::size_t position = 0; position < length; ++position, rest /= 5) {
                    const std::size_t symbol = rest % 5;
                    if (symbol == 4) {
                        batch.push_back(invalid(Reason::bad_meter));
                    } else {
                        batch.push_back(Candidate{true, Reason::malformed_json, keys[symbol / 2],
                                                  PayloadHash{0, symbol % 2 + 1}});
                    }
                }
                Reference reference;
                std::vector<StoredKey> stored(batch.size());
                for (int key = 0; key < 2; ++key) {
                    if (states[key] != 0) {
                        reference.winners[keys[key]] = Reference::Winner{
                            static_cast<std::uint64_t>(states[key]), kDecidedByStore};
                    }
                }
                for (std::size_t index = 0; index < batch.size(); ++index) {
                    if (!batch[index].valid) {
                        continue;
                    }
                    const int key = batch[index].key == keys[0] ? 0 : 1;
                    if (states[key] != 0) {
                        stored[index] = stored_with(static_cast<std::uint64_t>(states[key]));
                    }
                }
                const auto decisions = admit(batch, stored);
                for (std::uint32_t index = 0; index < batch.size(); ++index) {
                    ASSERT_EQ(decisions[index], reference.decide(batch[index], index))
                        << "stored state " << stored_state << " length " << length << " code "
                        << code << " index " << index;
                }
                ++cases;
            }
        }
    }
    EXPECT_EQ(cases, 9U * (1 + 5 + 25 + 125 + 625 + 3125));
}

// Random streams in random batches against the reference: the store between batches is the
// reference's own map, so the test also covers keys decided in earlier batches.
TEST(Admission, PropertyMatchesAReferenceModel) {
    std::mt19937_64 random(test_seed("Admission.PropertyMatchesAReferenceModel"));
    Reference reference;
    OutcomeCounts model_counts;
    OutcomeCounts counts;
    Admitter admitter;
    for (int round = 0; round < 300; ++round) {
        const std::size_t size = random() % 200;
        std::vector<Candidate> batch;
        for (std::size_t index = 0; index < size; ++index) {
            if (random() % 10 == 0) {
                batch.push_back(invalid(static_cast<Reason>(random() % kReasonCount)));
            } else {
                batch.push_back(valid("t" + std::to_string(random() % 5),
                                      "k" + std::to_string(random() % 300), random() % 3));
            }
        }
        std::vector<StoredKey> stored(batch.size());
        for (std::size_t index = 0; index < batch.size(); ++index) {
            if (!batch[index].valid) {
                continue;
            }
            const auto found = reference.winners.find(batch[index].key);
            if (found != reference.winners.end()) {
                stored[index] = stored_with(found->second.payload);
            }
        }
        // Winners of earlier batches are "the store" now.
        for (auto& [key, winner] : reference.winners) {
            winner.earlier = kDecidedByStore;
        }
        std::vector<Decision> out(batch.size());
        admitter.admit(batch, stored, out);
        std::vector<std::uint32_t> order;
        Admitter::key_order(batch, order);
        std::vector<Decision> presorted(batch.size());
        Admitter::admit_in_key_order(batch, stored, order, presorted);
        for (std::uint32_t index = 0; index < batch.size(); ++index) {
            const Decision expected = reference.decide(batch[index], index);
            model_counts.add(expected);
            ASSERT_EQ(out[index], expected) << "round " << round << " index " << index;
            ASSERT_EQ(presorted[index], expected) << "round " << round << " index " << index;
            counts.add(out[index]);
        }
    }
    EXPECT_EQ(counts, model_counts);
}

}  // namespace
}  // namespace ul
