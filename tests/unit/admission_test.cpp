#include "ledger/admission.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace ul {
namespace {

Candidate valid(std::string_view tenant, std::string_view key, std::uint64_t payload) {
    return Candidate{true, Reason::malformed_json, dedup_key(tenant, key), PayloadHash{0, payload}};
}
Candidate invalid(Reason reason) {
    return Candidate{false, reason, {}, {}};
}

std::vector<Verdict> admit(const std::vector<Candidate>& batch,
                           const std::vector<StoredKey>& stored) {
    Admitter admitter;
    std::vector<Decision> out(batch.size());
    admitter.admit(batch, stored, out);
    std::vector<Verdict> verdicts;
    for (const auto& decision : out) {
        verdicts.push_back(decision.verdict);
    }
    return verdicts;
}

TEST(DedupKey, SeparatesTenantFromKey) {
    EXPECT_NE(dedup_key("ab", "c"), dedup_key("a", "bc"));
    EXPECT_NE(dedup_key("acme", "k"), dedup_key("other", "k"));
    EXPECT_EQ(dedup_key("acme", "k"), dedup_key("acme", "k"));
}

TEST(Admission, DecidesAgainstTheStore) {
    const std::vector<Candidate> batch = {valid("acme", "new", 1), valid("acme", "old", 2),
                                          valid("acme", "changed", 3),
                                          invalid(Reason::bad_quantity)};
    const std::vector<StoredKey> stored = {
        {false, {}}, {true, PayloadHash{0, 2}}, {true, PayloadHash{0, 99}}, {false, {}}};
    EXPECT_EQ(admit(batch, stored), (std::vector<Verdict>{Verdict::accepted, Verdict::duplicate,
                                                          Verdict::conflict, Verdict::invalid}));
}

TEST(Admission, TheFirstInTheBatchWins) {
    const std::vector<Candidate> batch = {valid("acme", "k", 1), valid("acme", "k", 1),
                                          valid("acme", "k", 2), valid("beta", "k", 2),
                                          valid("acme", "k", 1)};
    const std::vector<StoredKey> stored(batch.size());
    EXPECT_EQ(admit(batch, stored),
              (std::vector<Verdict>{Verdict::accepted, Verdict::duplicate, Verdict::conflict,
                                    Verdict::accepted, Verdict::duplicate}));
}

TEST(Admission, AConflictFirstInTheBatchDoesNotBecomeTheWinner) {
    const std::vector<Candidate> batch = {valid("acme", "k", 2), valid("acme", "k", 1)};
    const std::vector<StoredKey> stored(2, StoredKey{true, PayloadHash{0, 1}});
    EXPECT_EQ(admit(batch, stored), (std::vector<Verdict>{Verdict::conflict, Verdict::duplicate}));
}

TEST(Admission, CountsEveryMessageExactlyOnce) {
    OutcomeCounts counts;
    counts.add({Verdict::accepted, Reason::malformed_json});
    counts.add({Verdict::invalid, Reason::bad_meter});
    counts.add({Verdict::invalid, Reason::bad_meter});
    counts.add({Verdict::conflict, Reason::malformed_json});
    EXPECT_EQ(counts.consumed(), 4U);
    EXPECT_EQ(counts.dead_lettered_by_reason[static_cast<std::size_t>(Reason::bad_meter)], 2U);
}

// Random streams in random batches against a plain std::map reference model.
TEST(Admission, PropertyMatchesAReferenceModel) {
    const auto seed = static_cast<std::uint64_t>(std::random_device{}());
    std::printf("Admission.PropertyMatchesAReferenceModel seed %llu\n",
                static_cast<unsigned long long>(seed));
    std::mt19937_64 random(seed);
    std::map<std::pair<std::string, std::string>, std::uint64_t> model;  // key → payload
    std::map<DedupKey, PayloadHash> store;
    OutcomeCounts model_counts;
    OutcomeCounts counts;
    Admitter admitter;
    for (int round = 0; round < 300; ++round) {
        const std::size_t size = 1 + random() % 200;
        std::vector<Candidate> batch;
        std::vector<std::pair<std::string, std::string>> names;
        std::vector<Verdict> expected;
        for (std::size_t index = 0; index < size; ++index) {
            if (random() % 10 == 0) {
                batch.push_back(invalid(static_cast<Reason>(random() % kReasonCount)));
                names.emplace_back();
                expected.push_back(Verdict::invalid);
                model_counts.add({Verdict::invalid, batch.back().reason});
                continue;
            }
            std::string tenant = "t" + std::to_string(random() % 5);
            std::string key = "k" + std::to_string(random() % 300);
            const std::uint64_t payload = random() % 3;
            batch.push_back(valid(tenant, key, payload));
            auto [it, inserted] = model.try_emplace({tenant, key}, payload);
            const Verdict verdict = inserted                ? Verdict::accepted
                                    : it->second == payload ? Verdict::duplicate
                                                            : Verdict::conflict;
            expected.push_back(verdict);
            model_counts.add({verdict, Reason::malformed_json});
        }
        std::vector<StoredKey> stored;
        for (const auto& candidate : batch) {
            auto found = store.find(candidate.key);
            stored.push_back(found == store.end() ? StoredKey{} : StoredKey{true, found->second});
        }
        std::vector<Decision> out(batch.size());
        admitter.admit(batch, stored, out);
        for (std::size_t index = 0; index < batch.size(); ++index) {
            ASSERT_EQ(out[index].verdict, expected[index])
                << "round " << round << " index " << index;
            counts.add(out[index]);
            if (out[index].verdict == Verdict::accepted) {
                store.emplace(batch[index].key, batch[index].payload);
            }
        }
    }
    EXPECT_EQ(counts, model_counts);
}

}  // namespace
}  // namespace ul
