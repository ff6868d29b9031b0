// RocksDB at the edge, once for every store: opening a database with its column families either
// as the writer (creating what is missing) or as a secondary instance that follows a running
// writer from a private temporary directory, and closing it in the right order (family handles,
// then the database, then the secondary's directory). LedgerStore and ProjectionStore both open
// through here; they differ only in their families' options.
// Threading: RocksDB's own (the database is thread-safe); open/close from one thread.
#pragma once

#include <rocksdb/db.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "consumers/disk_space.h"
#include "schemas/result.h"

namespace ul {

enum class StoreMode { read_write, secondary };

// The database options every store shares: create-if-missing for the writer, all files open for a
// secondary, two background threads, and a WAL bounded by 4 write buffers (a WAL file can only go
// once every family with data in it has flushed; families with few bytes per batch would hold
// hundreds of MiB of WAL without this bound).
rocksdb::Options base_store_options(StoreMode mode, std::size_t write_buffer_bytes);

class RocksDb {
  public:
    // Opens `path` with `families` (in this order; handle i is families[i]). `what` names the
    // store in errors ("ledger store"). A secondary needs an existing store.
    static Result<std::unique_ptr<RocksDb>, std::string> open(
        const rocksdb::Options& options, const std::string& path,
        const std::vector<rocksdb::ColumnFamilyDescriptor>& families, StoreMode mode,
        const std::string& what);
    ~RocksDb();
    RocksDb(const RocksDb&) = delete;
    RocksDb& operator=(const RocksDb&) = delete;

    rocksdb::DB* get() const { return db_.get(); }
    rocksdb::DB* operator->() const { return db_.get(); }
    rocksdb::ColumnFamilyHandle* family(std::size_t index) const { return handles_.at(index); }
    StoreMode mode() const { return mode_; }

  private:
    RocksDb() = default;
    StoreMode mode_ = StoreMode::read_write;
    std::string secondary_path_;
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;
    std::unique_ptr<rocksdb::DB> db_;
};

// A service's own store (`Store::open(options, StoreMode::read_write)`), opened only when its disk
// has `min_free` space: RocksDB writes even while opening, and on a full disk it aborts instead
// of answering. `name` names the service in the error.
template <typename Store, typename Options>
Result<std::unique_ptr<Store>, std::string> open_writer_store(const std::string& name,
                                                              const Options& options,
                                                              const MinFreeDisk& min_free) {
    if (auto space = DiskGuard::check(name, options.path, min_free); !space) {
        return unexpected(space.error());
    }
    return Store::open(options, StoreMode::read_write);
}

// RocksDB's status as one line.
std::string status_text(const rocksdb::Status& status);

}  // namespace ul
