// ledger/hash_memtable on a real RocksDB: random puts, overwrites and deletes of keys of varied
// lengths, checked against a std::map through Get, MultiGet, snapshots, forward and backward
// iteration, seeks, flushes and a reopen (WAL replay into the hash memtable). Seeded; the seed is
// printed and UL_TEST_SEED replays it.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ledger/hash_memtable.h"
#include "tests/support/process.h"

namespace ul {
namespace {

std::uint64_t test_seed(const char* name) {
    const char* forced = std::getenv("UL_TEST_SEED");
    const std::uint64_t seed =
        forced != nullptr ? std::strtoull(forced, nullptr, 10) : std::random_device{}();
    std::printf("%s seed %llu (UL_TEST_SEED=%llu replays it)\n", name,
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    return seed;
}

std::unique_ptr<rocksdb::DB> open_db(const std::string& path) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.allow_concurrent_memtable_write = false;
    options.write_buffer_size = 64 << 10;  // many flushes
    options.memtable_factory = make_hash_memtable_factory(512);
    options.memtable_whole_key_filtering = true;
    options.memtable_prefix_bloom_size_ratio = 0.1;
    rocksdb::DB* raw = nullptr;
    const auto status = rocksdb::DB::Open(options, path, &raw);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return std::unique_ptr<rocksdb::DB>(raw);
}

std::map<std::string, std::string> scan_forward(rocksdb::DB& db, const rocksdb::Snapshot* at) {
    rocksdb::ReadOptions read_options;
    read_options.snapshot = at;
    std::unique_ptr<rocksdb::Iterator> iterator(db.NewIterator(read_options));
    std::map<std::string, std::string> seen;
    std::string previous;
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
        EXPECT_TRUE(seen.empty() || previous < iterator->key().ToString()) << "not in order";
        previous = iterator->key().ToString();
        seen[previous] = iterator->value().ToString();
    }
    EXPECT_TRUE(iterator->status().ok());
    return seen;
}

std::map<std::string, std::string> scan_backward(rocksdb::DB& db) {
    std::unique_ptr<rocksdb::Iterator> iterator(db.NewIterator(rocksdb::ReadOptions()));
    std::map<std::string, std::string> seen;
    for (iterator->SeekToLast(); iterator->Valid(); iterator->Prev()) {
        seen[iterator->key().ToString()] = iterator->value().ToString();
    }
    EXPECT_TRUE(iterator->status().ok());
    return seen;
}

TEST(LedgerHashMemTable, MatchesAMapThroughEveryReadPath) {
    std::mt19937_64 random(test_seed("LedgerHashMemTable.MatchesAMapThroughEveryReadPath"));
    test::TempDir dir;
    const std::string path = (dir.path() / "db").string();
    auto db = open_db(path);
    ASSERT_NE(db, nullptr);
    std::vector<std::string> keys;
    for (int index = 0; index < 400; ++index) {
        std::string key(1 + random() % 24, '\0');  // varied lengths, any bytes (also 0x00)
        for (char& byte : key) {
            byte = static_cast<char>(random() % 256);
        }
        keys.push_back(key);
    }
    std::map<std::string, std::string> model;
    for (int step = 0; step < 6000; ++step) {
        const std::string& key = keys[random() % keys.size()];
        const auto roll = random() % 100;
        if (roll < 70) {
            const std::string value = "v" + std::to_string(step) + std::string(random() % 300, 'x');
            ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
            model[key] = value;
        } else if (roll < 85) {
            ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), key).ok());
            model.erase(key);
        } else if (roll < 95) {
            std::string value;
            const auto status = db->Get(rocksdb::ReadOptions(), key, &value);
            const auto expected = model.find(key);
            if (expected == model.end()) {
                ASSERT_TRUE(status.IsNotFound()) << status.ToString();
            } else {
                ASSERT_TRUE(status.ok()) << status.ToString();
                ASSERT_EQ(value, expected->second);
            }
        } else if (roll < 98) {
            // A snapshot, then changes: the snapshot still reads the old values.
            const rocksdb::Snapshot* snapshot = db->GetSnapshot();
            const auto before = model;
            for (int change = 0; change < 20; ++change) {
                const std::string& changed = keys[random() % keys.size()];
                ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), changed, "after").ok());
                model[changed] = "after";
            }
            EXPECT_EQ(scan_forward(*db, snapshot), before);
            db->ReleaseSnapshot(snapshot);
        } else {
            ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
        }
    }
    EXPECT_EQ(scan_forward(*db, nullptr), model);
    EXPECT_EQ(scan_backward(*db), model);

    // MultiGet, sorted and not.
    std::vector<rocksdb::Slice> slices;
    for (std::size_t index = 0; index < 64; ++index) {
        slices.emplace_back(keys[random() % keys.size()]);
    }
    std::vector<std::string> values;
    const auto statuses = db->MultiGet(rocksdb::ReadOptions(), slices, &values);
    for (std::size_t index = 0; index < slices.size(); ++index) {
        const auto expected = model.find(slices[index].ToString());
        if (expected == model.end()) {
            EXPECT_TRUE(statuses[index].IsNotFound());
        } else {
            EXPECT_EQ(values[index], expected->second);
        }
    }

    // Seek and SeekForPrev to random probes.
    std::unique_ptr<rocksdb::Iterator> iterator(db->NewIterator(rocksdb::ReadOptions()));
    for (int probe = 0; probe < 200; ++probe) {
        const std::string& target = keys[random() % keys.size()];
        iterator->Seek(target);
        const auto at_or_after = model.lower_bound(target);
        ASSERT_EQ(iterator->Valid(), at_or_after != model.end());
        if (iterator->Valid()) {
            EXPECT_EQ(iterator->key().ToString(), at_or_after->first);
        }
        iterator->SeekForPrev(target);
        auto at_or_before = model.upper_bound(target);
        ASSERT_EQ(iterator->Valid(), at_or_before != model.begin());
        if (iterator->Valid()) {
            EXPECT_EQ(iterator->key().ToString(), (--at_or_before)->first);
        }
    }
    iterator.reset();

    // Reopen without flushing: the WAL is replayed into a fresh hash memtable.
    db.reset();
    db = open_db(path);
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(scan_forward(*db, nullptr), model);
}

}  // namespace
}  // namespace ul
