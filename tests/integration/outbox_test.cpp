// The runner's write: a reducer's state deltas, its effects (outbox rows) and the watermarks in
// one WriteBatch (projections/runner/projection_store.h), with a toy reducer that decides an
// effect per entry — the shape the alerts and billing projections take.
#include <gtest/gtest.h>

#include "projections/runner/projection_store.h"
#include "projections/runner/reducer.h"
#include "tests/support/process.h"

namespace {

// Counts entries per tenant (a put of the running total) and decides one effect per entry.
class ToyDeltas final : public ul::ReducerDeltas {
  public:
    std::size_t size() const override { return totals.size(); }
    bool empty() const override { return totals.empty(); }
    void clear() override { totals.clear(); }
    void write(ul::StateWriter& out) const override {
        for (const auto& [tenant, total] : totals) {
            out.put(0, tenant, std::to_string(total));
        }
    }
    std::map<std::string, int> totals;
};

class ToyReducer final : public ul::Reducer {
  public:
    std::string_view name() const override { return "toy"; }
    const std::vector<ul::StateFamily>& families() const override {
        static const std::vector<ul::StateFamily> schema = {{"toy_totals", nullptr}};
        return schema;
    }
    std::unique_ptr<ul::ReducerDeltas> make_deltas() const override {
        return std::make_unique<ToyDeltas>();
    }
    ul::Result<bool, std::string> reduce(const ul::LedgerEntryRef& entry,
                                         const ul::AccountInForce& /*account*/,
                                         const ul::StateReader& /*state*/,
                                         ul::ReducerDeltas& deltas,
                                         std::vector<ul::Effect>& effects) const override {
        ++static_cast<ToyDeltas&>(deltas).totals[std::string(entry.event.tenant_id)];
        effects.push_back({"notice", "notice:" + std::to_string(entry.sequence),
                           std::string(entry.event.tenant_id)});
        return true;
    }
};

TEST(Outbox, EffectsAreWrittenWithTheStateAndWatermarksAndRemovedOncePerformed) {
    ul::test::TempDir dir;
    const ToyReducer reducer;
    ul::ProjectionStoreOptions options;
    options.path = (dir.path() / "toy").string();
    options.families = reducer.families();
    {
        auto store = ul::ProjectionStore::open(options, ul::ProjectionOpenMode::read_write);
        ASSERT_TRUE(store) << store.error();
        ul::ProjectionBatch batch(reducer);
        for (std::uint64_t sequence = 0; sequence < 3; ++sequence) {
            ul::UsageEvent event;
            event.tenant_id = "acme";
            std::vector<ul::Effect>& effects = batch.effects;
            ASSERT_TRUE(reducer.reduce({0, sequence, event}, {nullptr, ul::BillingCalendar{}},
                                       **store, *batch.deltas, effects));
        }
        batch.partitions[0].next_sequence = 3;
        ASSERT_TRUE((*store)->apply(batch));
        EXPECT_EQ((*store)->next_outbox_sequence(), 3U);
    }
    // Reopened (as after a crash): state, watermark and effects are all there.
    auto store = ul::ProjectionStore::open(options, ul::ProjectionOpenMode::read_write);
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ((*store)->partition(0).next_sequence, 3U);
    auto rows = (*store)->outbox(0, 10);
    ASSERT_TRUE(rows) << rows.error();
    ASSERT_EQ(rows->size(), 3U);
    EXPECT_EQ((*rows)[0].sequence, 0U);
    EXPECT_EQ((*rows)[2].effect, (ul::Effect{"notice", "notice:2", "acme"}));
    std::string total;
    ASSERT_TRUE(
        (*store)
            ->raw_db()
            ->Get(rocksdb::ReadOptions(), (*store)->raw_db()->DefaultColumnFamily(), "acme", &total)
            .IsNotFound());  // state lives in its own family, not the default one
    // A worker performed the first two.
    ASSERT_TRUE((*store)->remove_from_outbox({0, 1}));
    rows = (*store)->outbox(0, 10);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1U);
    EXPECT_EQ((*rows)[0].effect.id, "notice:2");
    EXPECT_EQ((*store)->next_outbox_sequence(), 3U);  // sequences are never reused
}

}  // namespace
