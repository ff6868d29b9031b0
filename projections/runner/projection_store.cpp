#include "projections/runner/projection_store.h"

#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>

namespace ul {
namespace {

constexpr char kTotalsKey[] = "totals";
// Not a tenant id ('~' is not in [A-Za-z0-9._:-]): a deleted account's deletion time.
constexpr char kDeletedAccountPrefix[] = "~deleted~";

void put_u32_be(std::string& out, std::uint32_t value) {
    for (int index = 3; index >= 0; --index) {
        out.push_back(static_cast<char>(value >> (8 * index)));
    }
}
void put_u64_be(std::string& out, std::uint64_t value) {
    for (int index = 7; index >= 0; --index) {
        out.push_back(static_cast<char>(value >> (8 * index)));
    }
}
std::uint32_t get_u32_be(const char* in) {
    std::uint32_t value = 0;
    for (int index = 0; index < 4; ++index) {
        value = (value << 8U) | static_cast<unsigned char>(in[index]);
    }
    return value;
}
std::uint64_t get_u64_be(const char* in) {
    std::uint64_t value = 0;
    for (int index = 0; index < 8; ++index) {
        value = (value << 8U) | static_cast<unsigned char>(in[index]);
    }
    return value;
}

std::string partition_key(char kind, std::uint32_t partition) {
    std::string key(1, kind);
    put_u32_be(key, partition);
    return key;
}

// A state family's pure merge (reducer.h) as a RocksDB merge operator: merging deltas needs no
// read on the write path. A merge that fails is reported by RocksDB as corruption (on the read or
// compaction that meets it) instead of storing a wrong value.
class StateMergeOperator final : public rocksdb::AssociativeMergeOperator {
  public:
    StateMergeOperator(std::string name, StateFamily::Merge merge)
        : name_("usage-ledger." + std::move(name)), merge_(merge) {}
    bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
               const rocksdb::Slice& value, std::string* new_value,
               rocksdb::Logger* /*logger*/) const override {
        const std::string_view delta(value.data(), value.size());
        if (existing == nullptr) {
            return merge_(nullptr, delta, *new_value);
        }
        const std::string_view old(existing->data(), existing->size());
        return merge_(&old, delta, *new_value);
    }
    const char* Name() const override { return name_.c_str(); }

  private:
    std::string name_;
    StateFamily::Merge merge_;
};

// The reducer's deltas into one WriteBatch.
class BatchWriter final : public StateWriter {
  public:
    BatchWriter(rocksdb::WriteBatch& write, const std::vector<rocksdb::ColumnFamilyHandle*>& state)
        : write_(write), state_(state) {}
    void merge(std::size_t family, std::string_view key, std::string_view delta) override {
        note(write_.Merge(state_.at(family), key, delta));
    }
    void put(std::size_t family, std::string_view key, std::string_view value) override {
        note(write_.Put(state_.at(family), key, value));
    }
    void erase(std::size_t family, std::string_view key) override {
        note(write_.Delete(state_.at(family), key));
    }
    const rocksdb::Status& status() const { return status_; }

  private:
    void note(const rocksdb::Status& status) {
        if (status_.ok() && !status.ok()) {
            status_ = status;
        }
    }
    rocksdb::WriteBatch& write_;
    const std::vector<rocksdb::ColumnFamilyHandle*>& state_;
    rocksdb::Status status_;
};

constexpr char kVersionPrefix[] = "~version~";
constexpr char kOutboxKey[] = "o";

std::uint64_t flip(std::int64_t value) {
    return static_cast<std::uint64_t>(value) ^ (std::uint64_t{1} << 63U);
}

std::uint64_t flip_back(std::uint64_t value) {
    return value ^ (std::uint64_t{1} << 63U);
}

std::string version_key(const AccountChange& change) {
    std::string key = kVersionPrefix + change.tenant;
    key.push_back('\0');
    put_u64_be(key, flip(change.effective_at_us));
    put_u64_be(key, flip(change.updated_at_us));
    return key;
}

std::string encode_effect(const Effect& effect) {
    std::string out;
    put_u32_be(out, static_cast<std::uint32_t>(effect.kind.size()));
    out += effect.kind;
    put_u32_be(out, static_cast<std::uint32_t>(effect.id.size()));
    out += effect.id;
    out += effect.payload;
    return out;
}

std::optional<Effect> decode_effect(std::string_view bytes) {
    Effect effect;
    for (std::string* field : {&effect.kind, &effect.id}) {
        if (bytes.size() < 4) {
            return std::nullopt;
        }
        const std::uint32_t size = get_u32_be(bytes.data());
        if (bytes.size() - 4 < size) {
            return std::nullopt;
        }
        field->assign(bytes.substr(4, size));
        bytes.remove_prefix(4 + size);
    }
    effect.payload.assign(bytes);
    return effect;
}

}  // namespace

void ProjectionBatch::clear() {
    deltas->clear();
    effects.clear();
    partitions.clear();
    accounts.clear();
    applied = 0;
    repeats = 0;
}

ProjectionStore::~ProjectionStore() = default;

Result<std::unique_ptr<ProjectionStore>, std::string> ProjectionStore::open(
    const ProjectionStoreOptions& options, ProjectionOpenMode mode) {
    std::unique_ptr<ProjectionStore> store(new ProjectionStore());
    store->options_ = options;
    store->mode_ = mode;

    const rocksdb::Options db_options = base_store_options(mode, options.write_buffer_bytes);
    auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    auto family_options = [&](const StateFamily* state) {
        rocksdb::ColumnFamilyOptions family;
        family.write_buffer_size = options.write_buffer_bytes;
        family.max_write_buffer_number = 2;
        family.compression = rocksdb::kLZ4Compression;
        if (state != nullptr && state->merge != nullptr) {
            family.merge_operator = std::make_shared<StateMergeOperator>(state->name, state->merge);
        }
        rocksdb::BlockBasedTableOptions table;
        table.block_cache = cache;
        table.cache_index_and_filter_blocks = true;
        family.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
        return family;
    };
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, family_options(nullptr)},
        {"meta", family_options(nullptr)},
        {"accounts", family_options(nullptr)},
        {"outbox", family_options(nullptr)},
    };
    constexpr std::size_t kStateFamilies = 4;  // the reducer's come after the runner's
    for (const StateFamily& state : options.families) {
        families.emplace_back(state.name, family_options(&state));
    }
    auto db = RocksDb::open(db_options, options.path, families, mode, "projection store");
    if (!db) {
        return unexpected(db.error());
    }
    store->db_ = std::move(db).value();
    store->meta_ = store->db_->family(1);
    store->accounts_ = store->db_->family(2);
    store->outbox_ = store->db_->family(3);
    for (std::size_t index = 0; index < options.families.size(); ++index) {
        store->state_.push_back(store->db_->family(kStateFamilies + index));
        // The counters' reads find their families by name.
        if (options.families[index].name == "counters") {
            store->counters_ = store->state_.back();
        } else if (options.families[index].name == "breakdown") {
            store->breakdown_ = store->state_.back();
        }
    }
    auto loaded = store->load_meta();
    if (!loaded) {
        return unexpected(loaded.error());
    }
    return store;
}

Result<bool, std::string> ProjectionStore::read_meta(
    const rocksdb::Snapshot* snapshot, std::map<std::uint32_t, ProjectionPartition>& partitions,
    std::uint64_t* applied, std::uint64_t* repeats, std::uint64_t* next_outbox) const {
    rocksdb::ReadOptions read;
    read.snapshot = snapshot;
    std::unique_ptr<rocksdb::Iterator> iterator(db_->get()->NewIterator(read, meta_));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
        const std::string_view key(iterator->key().data(), iterator->key().size());
        const std::string_view value(iterator->value().data(), iterator->value().size());
        if (key.size() == 5 && key[0] == 'p' && value.size() == 16) {
            auto& state = partitions[get_u32_be(key.data() + 1)];
            state.next_sequence = get_u64_be(value.data());
            state.next_offset = static_cast<std::int64_t>(get_u64_be(value.data() + 8));
        } else if (key.size() == 5 && key[0] == 's' && value.size() == 8) {
            partitions[get_u32_be(key.data() + 1)].stalled_at = get_u64_be(value.data());
        } else if (key == kOutboxKey && value.size() == 8 && next_outbox != nullptr) {
            *next_outbox = get_u64_be(value.data());
        } else if (key == kTotalsKey && value.size() == 16 && applied != nullptr) {
            *applied = get_u64_be(value.data());
            *repeats = get_u64_be(value.data() + 8);
        }
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the projection store's meta: " +
                          status_text(iterator->status()));
    }
    return true;
}

Result<bool, std::string> ProjectionStore::load_meta() {
    partitions_.clear();
    applied_total_ = 0;
    repeats_total_ = 0;
    next_outbox_ = 0;
    return read_meta(nullptr, partitions_, &applied_total_, &repeats_total_, &next_outbox_);
}

Result<std::map<std::uint32_t, ProjectionPartition>, std::string> ProjectionStore::partitions_at(
    const rocksdb::Snapshot* snapshot) const {
    std::map<std::uint32_t, ProjectionPartition> partitions;
    if (auto read = read_meta(snapshot, partitions, nullptr, nullptr); !read) {
        return unexpected(read.error());
    }
    return partitions;
}

Result<bool, std::string> ProjectionStore::replace_cells(
    const std::vector<CellReplacement>& replacements) {
    rocksdb::WriteBatch write;
    char cell[kCellBytes];
    for (const auto& replacement : replacements) {
        auto* family = replacement.family == CellFamily::counters ? counters_ : breakdown_;
        if (replacement.cell) {
            encode_cell(*replacement.cell, cell);
            write.Put(family, replacement.key, rocksdb::Slice(cell, kCellBytes));
        } else {
            write.Delete(family, replacement.key);
        }
    }
    rocksdb::WriteOptions options;
    options.sync = true;  // a repair is rare and must not be lost
    const auto status = db_->get()->Write(options, &write);
    if (!status.ok()) {
        return unexpected("cannot write to the projection store: " + status_text(status));
    }
    return true;
}

Result<bool, std::string> ProjectionStore::apply(const ProjectionBatch& batch) {
    rocksdb::WriteBatch write;
    BatchWriter state(write, state_);
    batch.deltas->write(state);
    if (!state.status().ok()) {
        return unexpected("cannot write to the projection store: " + status_text(state.status()));
    }
    std::string value;
    for (const auto& [partition, state] : batch.partitions) {
        value.clear();
        put_u64_be(value, state.next_sequence);
        put_u64_be(value, static_cast<std::uint64_t>(state.next_offset));
        write.Put(meta_, partition_key('p', partition), value);
        if (state.stalled_at) {
            value.clear();
            put_u64_be(value, *state.stalled_at);
            write.Put(meta_, partition_key('s', partition), value);
        } else {
            write.Delete(meta_, partition_key('s', partition));
        }
    }
    for (const AccountChange& change : batch.accounts) {
        const std::string deletion = kDeletedAccountPrefix + change.tenant;
        if (change.json.empty()) {
            value.clear();
            put_u64_be(value, static_cast<std::uint64_t>(change.deleted_at_us));
            write.Delete(accounts_, change.tenant);
            write.Put(accounts_, deletion, value);
        } else {
            write.Put(accounts_, change.tenant, change.json);
            write.Delete(accounts_, deletion);
        }
        if (change.add_version) {
            write.Put(accounts_, version_key(change), change.json);
        }
    }
    std::uint64_t next_outbox = next_outbox_;
    for (const Effect& effect : batch.effects) {
        value.clear();
        put_u64_be(value, next_outbox++);
        write.Put(outbox_, value, encode_effect(effect));
    }
    if (next_outbox != next_outbox_) {
        value.clear();
        put_u64_be(value, next_outbox);
        write.Put(meta_, kOutboxKey, value);
    }
    value.clear();
    put_u64_be(value, applied_total_ + batch.applied);
    put_u64_be(value, repeats_total_ + batch.repeats);
    write.Put(meta_, kTotalsKey, value);
    rocksdb::WriteOptions options;
    options.sync = options_.sync;
    const auto status = db_->get()->Write(options, &write);
    if (!status.ok()) {
        return unexpected("cannot write to the projection store: " + status_text(status));
    }
    for (const auto& [partition, state] : batch.partitions) {
        partitions_[partition] = state;
    }
    applied_total_ += batch.applied;
    repeats_total_ += batch.repeats;
    next_outbox_ = next_outbox;
    return true;
}

Result<bool, std::string> ProjectionStore::catch_up() {
    const auto status = db_->get()->TryCatchUpWithPrimary();
    if (!status.ok()) {
        return unexpected("cannot follow the projection store: " + status_text(status));
    }
    return load_meta();
}

ProjectionPartition ProjectionStore::partition(std::uint32_t partition) const {
    const auto found = partitions_.find(partition);
    return found == partitions_.end() ? ProjectionPartition{} : found->second;
}

namespace {
rocksdb::ReadOptions read_at(const rocksdb::Snapshot* snapshot) {
    rocksdb::ReadOptions read;
    read.snapshot = snapshot;
    return read;
}
}  // namespace

StoreSnapshot ProjectionStore::snapshot() const {
    rocksdb::DB* db = db_->get();
    return {db->GetSnapshot(),
            [db](const rocksdb::Snapshot* taken) { db->ReleaseSnapshot(taken); }};
}

std::uint64_t ProjectionStore::sequence_of(const StoreSnapshot& snapshot) {
    return snapshot->GetSequenceNumber();
}

std::uint64_t ProjectionStore::latest_sequence() const {
    return db_->get()->GetLatestSequenceNumber();
}

Result<std::optional<Cell>, std::string> ProjectionStore::cell(
    const CounterKey& key, const rocksdb::Snapshot* snapshot) const {
    std::string encoded;
    append_counter_key(key, encoded);
    std::string value;
    const auto status = db_->get()->Get(read_at(snapshot), counters_, encoded, &value);
    if (status.IsNotFound()) {
        return std::optional<Cell>();
    }
    if (!status.ok()) {
        return unexpected("cannot read a counter: " + status_text(status));
    }
    auto decoded = decode_cell(value);
    if (!decoded) {
        return unexpected(decoded.error());
    }
    return std::optional<Cell>(*decoded);
}

Result<std::optional<std::string>, std::string> ProjectionStore::get(std::size_t family,
                                                                     std::string_view key) const {
    if (family >= state_.size()) {
        return unexpected("no state family " + std::to_string(family) + " in the projection store");
    }
    std::string value;
    const auto status = db_->get()->Get(rocksdb::ReadOptions(), state_[family],
                                        rocksdb::Slice(key.data(), key.size()), &value);
    if (status.IsNotFound()) {
        return std::optional<std::string>();
    }
    if (!status.ok()) {
        return unexpected("cannot read the projection store: " + status_text(status));
    }
    return std::optional<std::string>(std::move(value));
}

Result<bool, std::string> ProjectionStore::for_each_state(
    std::size_t family, std::string_view from, std::string_view to,
    const std::function<bool(std::string_view key, std::string_view value)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    if (family >= state_.size()) {
        return unexpected("no state family " + std::to_string(family) + " in the projection store");
    }
    rocksdb::ReadOptions read = read_at(snapshot);
    const rocksdb::Slice upper(to.data(), to.size());
    if (!to.empty()) {
        read.iterate_upper_bound = &upper;
    }
    std::unique_ptr<rocksdb::Iterator> iterator(db_->get()->NewIterator(read, state_[family]));
    for (iterator->Seek(rocksdb::Slice(from.data(), from.size())); iterator->Valid();
         iterator->Next()) {
        if (!visit(std::string_view(iterator->key().data(), iterator->key().size()),
                   std::string_view(iterator->value().data(), iterator->value().size()))) {
            return true;
        }
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the projection store: " + status_text(iterator->status()));
    }
    return true;
}

Result<bool, std::string> ProjectionStore::for_each_cell(
    CellFamily family, std::string_view from, std::string_view to,
    const std::function<bool(std::string_view key, const Cell&)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    const bool counters = family == CellFamily::counters;
    rocksdb::ReadOptions read = read_at(snapshot);
    const rocksdb::Slice upper(to.data(), to.size());
    if (!to.empty()) {
        read.iterate_upper_bound = &upper;
    }
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(read, counters ? counters_ : breakdown_));
    for (iterator->Seek(rocksdb::Slice(from.data(), from.size())); iterator->Valid();
         iterator->Next()) {
        auto cell =
            decode_cell(std::string_view(iterator->value().data(), iterator->value().size()));
        if (!cell) {
            return unexpected(std::string("a damaged ") + (counters ? "counter" : "breakdown") +
                              " cell in the projection store");
        }
        if (!visit(std::string_view(iterator->key().data(), iterator->key().size()), *cell)) {
            return true;
        }
    }
    if (!iterator->status().ok()) {
        return unexpected(std::string("cannot read the ") + (counters ? "counters" : "breakdown") +
                          ": " + status_text(iterator->status()));
    }
    return true;
}

Result<bool, std::string> ProjectionStore::for_each_counter_range(
    std::string_view from, std::string_view to,
    const std::function<bool(const CounterKey&, const Cell&)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    bool damaged = false;
    auto read = for_each_cell(
        CellFamily::counters, from, to,
        [&](std::string_view bytes, const Cell& cell) {
            auto key = decode_counter_key(bytes);
            damaged = !key;
            return key && visit(*key, cell);
        },
        snapshot);
    if (read && damaged) {
        return unexpected(std::string("a damaged counter cell in the projection store"));
    }
    return read;
}

Result<bool, std::string> ProjectionStore::for_each_counter(
    std::string_view prefix, const std::function<bool(const CounterKey&, const Cell&)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    std::string end(prefix);
    // The first key after every key starting with `prefix` (prefixes here end in '\0' or a
    // window byte, never 0xff, so incrementing the last byte is enough).
    if (!end.empty()) {
        end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
    }
    return for_each_counter_range(prefix, end, visit, snapshot);
}

Result<bool, std::string> ProjectionStore::for_each_breakdown(
    std::string_view prefix, const std::function<bool(const BreakdownKey&, const Cell&)>& visit,
    const rocksdb::Snapshot* snapshot) const {
    bool damaged = false;
    auto read = for_each_cell(
        CellFamily::breakdown, prefix, "",
        [&](std::string_view bytes, const Cell& cell) {
            if (!bytes.starts_with(prefix)) {
                return false;
            }
            auto key = decode_breakdown_key(bytes);
            damaged = !key;
            return key && visit(*key, cell);
        },
        snapshot);
    if (read && damaged) {
        return unexpected(std::string("a damaged breakdown cell in the projection store"));
    }
    return read;
}

namespace {
// The smallest key after every key that starts with `prefix` + '\0'.
std::string after_component(std::string prefix) {
    prefix.push_back('\x01');
    return prefix;
}
}  // namespace

Result<std::vector<std::string>, std::string> ProjectionStore::tenants(
    const rocksdb::Snapshot* snapshot) const {
    std::vector<std::string> out;
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(read_at(snapshot), counters_));
    for (iterator->SeekToFirst(); iterator->Valid();) {
        const std::string_view key(iterator->key().data(), iterator->key().size());
        const auto separator = key.find('\0');
        if (separator == std::string_view::npos) {
            return unexpected(std::string("a damaged counter key in the projection store"));
        }
        out.emplace_back(key.substr(0, separator));
        iterator->Seek(after_component(out.back()));
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the counters: " + status_text(iterator->status()));
    }
    return out;
}

Result<std::vector<std::string>, std::string> ProjectionStore::meters(
    std::string_view tenant_id, const rocksdb::Snapshot* snapshot) const {
    std::vector<std::string> out;
    const std::string prefix = counter_prefix(tenant_id);
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(read_at(snapshot), counters_));
    for (iterator->Seek(prefix);
         iterator->Valid() && iterator->key().starts_with(rocksdb::Slice(prefix));) {
        const std::string_view rest(iterator->key().data() + prefix.size(),
                                    iterator->key().size() - prefix.size());
        const auto separator = rest.find('\0');
        if (separator == std::string_view::npos) {
            return unexpected(std::string("a damaged counter key in the projection store"));
        }
        out.emplace_back(rest.substr(0, separator));
        iterator->Seek(after_component(prefix + out.back()));
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the counters: " + status_text(iterator->status()));
    }
    return out;
}

Result<std::map<std::string, std::string>, std::string> ProjectionStore::accounts() const {
    std::map<std::string, std::string> out;
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), accounts_));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
        if (!iterator->key().starts_with("~")) {  // not a deletion or a version
            out.emplace(iterator->key().ToString(), iterator->value().ToString());
        }
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the accounts: " + status_text(iterator->status()));
    }
    return out;
}

Result<std::map<std::string, std::int64_t>, std::string> ProjectionStore::account_deletions()
    const {
    std::map<std::string, std::int64_t> out;
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), accounts_));
    const rocksdb::Slice prefix(kDeletedAccountPrefix);
    for (iterator->Seek(prefix); iterator->Valid() && iterator->key().starts_with(prefix);
         iterator->Next()) {
        const rocksdb::Slice value = iterator->value();
        if (value.size() == 8) {
            out.emplace(iterator->key().ToString().substr(prefix.size()),
                        static_cast<std::int64_t>(get_u64_be(value.data())));
        }
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the accounts: " + status_text(iterator->status()));
    }
    return out;
}

Result<std::vector<AccountVersionRecord>, std::string> ProjectionStore::account_versions() const {
    std::vector<AccountVersionRecord> out;
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), accounts_));
    const rocksdb::Slice prefix(kVersionPrefix);
    for (iterator->Seek(prefix); iterator->Valid() && iterator->key().starts_with(prefix);
         iterator->Next()) {
        const std::string_view key(iterator->key().data() + prefix.size(),
                                   iterator->key().size() - prefix.size());
        const auto end = key.find('\0');
        if (end == std::string_view::npos || key.size() != end + 17) {
            return unexpected(std::string("a damaged account version key in the projection store"));
        }
        out.push_back({std::string(key.substr(0, end)),
                       static_cast<std::int64_t>(flip_back(get_u64_be(key.data() + end + 1))),
                       iterator->value().ToString(),
                       static_cast<std::int64_t>(flip_back(get_u64_be(key.data() + end + 9)))});
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the accounts: " + status_text(iterator->status()));
    }
    if (!out.empty()) {
        return out;
    }
    auto current = accounts();  // a store from before versions were kept
    if (!current) {
        return unexpected(current.error());
    }
    for (auto& [tenant, json] : *current) {
        out.push_back({tenant, std::numeric_limits<std::int64_t>::min(), std::move(json), 0});
    }
    return out;
}

Result<AccountHistory, std::string> ProjectionStore::account_history() const {
    auto versions = account_versions();
    if (!versions) {
        return unexpected(versions.error());
    }
    return AccountHistory::of(std::move(versions).value());
}

Result<std::vector<OutboxRow>, std::string> ProjectionStore::outbox(std::uint64_t from,
                                                                    std::size_t max) const {
    std::vector<OutboxRow> out;
    std::string start;
    put_u64_be(start, from);
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), outbox_));
    for (iterator->Seek(start); iterator->Valid() && out.size() < max; iterator->Next()) {
        auto effect =
            decode_effect(std::string_view(iterator->value().data(), iterator->value().size()));
        if (iterator->key().size() != 8 || !effect) {
            return unexpected(std::string("a damaged outbox row in the projection store"));
        }
        out.push_back({get_u64_be(iterator->key().data()), std::move(*effect)});
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the outbox: " + status_text(iterator->status()));
    }
    return out;
}

Result<bool, std::string> ProjectionStore::remove_from_outbox(
    const std::vector<std::uint64_t>& sequences) {
    rocksdb::WriteBatch write;
    std::string key;
    for (const std::uint64_t sequence : sequences) {
        key.clear();
        put_u64_be(key, sequence);
        write.Delete(outbox_, key);
    }
    rocksdb::WriteOptions options;
    options.sync = options_.sync;
    const auto status = db_->get()->Write(options, &write);
    if (!status.ok()) {
        return unexpected("cannot write to the projection store: " + status_text(status));
    }
    return true;
}

}  // namespace ul
