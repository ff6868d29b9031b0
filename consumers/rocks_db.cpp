#include "consumers/rocks_db.h"

#include <stdlib.h>

#include <filesystem>
#include <system_error>

namespace ul {

rocksdb::Options base_store_options(StoreMode mode, std::size_t write_buffer_bytes) {
    rocksdb::Options options;
    options.create_if_missing = mode == StoreMode::read_write;
    options.create_missing_column_families = mode == StoreMode::read_write;
    options.max_open_files = mode == StoreMode::secondary ? -1 : 512;
    options.IncreaseParallelism(2);
    options.max_total_wal_size = 4 * write_buffer_bytes;
    return options;
}

std::string status_text(const rocksdb::Status& status) {
    return status.ToString();
}

Result<std::unique_ptr<RocksDb>, std::string> RocksDb::open(
    const rocksdb::Options& options, const std::string& path,
    const std::vector<rocksdb::ColumnFamilyDescriptor>& families, StoreMode mode,
    const std::string& what) {
    std::unique_ptr<RocksDb> store(new RocksDb());
    store->mode_ = mode;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status status;
    if (mode == StoreMode::read_write) {
        std::error_code error;
        std::filesystem::create_directories(path, error);
        if (error) {
            return unexpected("cannot create the " + what + " at " + path + ": " + error.message());
        }
        status = rocksdb::DB::Open(options, path, families, &store->handles_, &raw);
    } else {
        if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT")) {
            return unexpected("no " + what + " at " + path);
        }
        std::string pattern =
            (std::filesystem::temp_directory_path() / "usage-ledger-secondary-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            return unexpected(std::string("cannot make a temporary directory"));
        }
        store->secondary_path_ = pattern;
        status =
            rocksdb::DB::OpenAsSecondary(options, path, pattern, families, &store->handles_, &raw);
    }
    if (!status.ok()) {
        return unexpected("cannot open the " + what + " at " + path + ": " + status_text(status));
    }
    store->db_.reset(raw);
    return store;
}

RocksDb::~RocksDb() {
    if (db_) {
        for (auto* handle : handles_) {
            (void)db_->DestroyColumnFamilyHandle(handle);
        }
        (void)db_->Close();
        db_.reset();
    }
    if (!secondary_path_.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(secondary_path_, ignored);
    }
}

}  // namespace ul
