// A RocksDB memtable representation for a column family read only by point lookups of
// uniformly random keys: the ledger's `dedup` family.
//
// Why: RocksDB's skiplist memtable pays ~log2(n) cache misses to insert a random key, which was
// the largest single cost of LedgerStore::apply (a 16 MiB memtable holds ~250,000 dedup keys).
// RocksDB's own hash memtables (hash_linkedlist, hash_skiplist) insert in O(1) but, to flush,
// build a complete new skiplist of every entry, which cost more CPU than the inserts saved.
// This one keeps a hash table of short chains sorted by internal key (insert and lookup in
// O(1)), plus a list of every entry that is sorted with std::sort only when an ordered scan is
// needed: once per flush, or for each iterator opened on a live memtable (LedgerStore::verify).
//
// Contract (RocksDB's MemTableRep): one writer, concurrent lock-free readers; entries are
// published by release stores. Concurrent memtable writes are not supported, so the DB must be
// opened with allow_concurrent_memtable_write = false. Use it without a prefix extractor.
//
// Coupling to RocksDB internals, checked on every call: Get() reads the three pointers that
// begin rocksdb::LookupKey (start_, kstart_, end_; db/lookup_key.h, unchanged from LevelDB to
// RocksDB 9), because MemTableRep's default Get leaks the iterator it opens (RocksDB 7.8.3,
// db/memtable.cc). A layout mismatch aborts with a message instead of reading wrong keys.
#pragma once

#include <rocksdb/memtablerep.h>

#include <cstddef>
#include <memory>

namespace ul {

// `expected_keys`: entries a memtable is expected to hold (the write buffer size divided by the
// bytes of one entry); rounded up to a power of two buckets.
std::shared_ptr<rocksdb::MemTableRepFactory> make_hash_memtable_factory(std::size_t expected_keys);

}  // namespace ul
