// LedgerService: the ledger consumer. Consumes usage.events (group usage-ledger), applies each
// poll batch to the LedgerStore in one WriteBatch, then relays new entries to usage.ledger and
// dead letters to usage.events.dlq (outboxes with watermarks in the store: at-least-once
// publishing, exactly-once counting).
// Positions come from RocksDB, never from Kafka's committed offsets: on assignment each partition
// is seeked to its stored next offset. auto.offset.reset=error: a stored offset below the log
// start is a gap, recorded (stats, log) before the consumer moves on; never skipped silently.
// Threading: run() on one thread; request_stop() from any thread (e.g. a signal waiter).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "consumers/disk_space.h"
#include "consumers/kafka.h"
#include "consumers/positioned_consumer.h"
#include "ledger/commit_waiter.h"
#include "ledger/ledger_metrics.h"
#include "ledger/ledger_store.h"
#include "schemas/result.h"

namespace ul {

struct LedgerServiceOptions {
    std::string bootstrap;
    std::string data_dir;  // the store lives in <data_dir>/ledger
    std::string events_topic = "usage.events";
    std::string ledger_topic = "usage.ledger";
    std::string dlq_topic = "usage.events.dlq";
    std::string group = "usage-ledger";
    // false: join the consumer group (scale-out). true: take every partition of the topic
    // without group coordination (one instance; restarts resume at once, no session wait).
    bool assign_all = false;
    // Group mode: how long the group waits for a silent member before moving its partitions
    // (session.timeout.ms; 0: librdkafka's default, 45 s).
    int session_timeout_ms = 0;
    // The broker is up's embedded one, empty after every restart: a stored offset beyond its log
    // end is expected, logged at info (an error otherwise). Recorded as a log reset either way.
    bool expect_log_resets = false;
    std::size_t max_batch = 10'000;
    bool sync = true;
    ValidationOptions validation;
    std::function<std::int64_t()> now_us;
    // How often run() logs its progress line (counts, rate, lag, batch size, commit latency).
    std::chrono::steady_clock::duration status_interval = std::chrono::seconds(10);
    // Told of every committed batch, on the consuming thread (HTTP ingest's ?wait=committed).
    CommitWaiter* commit_waiter = nullptr;
    // Hard limits (ledger/limits.h); nullptr: none. Must outlive the service. Needs assign_all:
    // a rebuilt partition (scale-out) does not get back the limit totals and the keys of
    // rejected events, which are not in usage.ledger.
    const LimitPolicy* limits = nullptr;
    kafka::Properties kafka_settings;  // connection settings (SASL, TLS) for both clients
    // Consuming stops (one error, ledger_disk_paused) while the store's disk has less free
    // space than this, and resumes by itself when space returns; start refuses below it.
    MinFreeDisk min_free_disk;
    // Tests only: after this many committed batches, the next store write fails as a RocksDB
    // write error would (0: never). Shows what a failing ledger looks like from outside.
    std::uint64_t test_fail_after_batches = 0;
};

class LedgerService {
  public:
    static Result<std::unique_ptr<LedgerService>, std::string> start(LedgerServiceOptions options);
    ~LedgerService();
    LedgerService(const LedgerService&) = delete;
    LedgerService& operator=(const LedgerService&) = delete;

    // Consumes until request_stop(); finishes the batch in hand and its relay first.
    Result<bool, std::string> run();
    void request_stop() { stop_.store(true); }
    const LedgerStore& store() const { return *store_; }
    // Safe to read from any thread while run() goes on.
    const LedgerMetrics& metrics() const { return metrics_; }

    // librdkafka's delivery report (on run()'s thread, inside poll/flush).
    void delivered(const rd_kafka_message_t& message);

  private:
    explicit LedgerService(LedgerServiceOptions options);
    Result<bool, std::string> handle_offset_error(std::int32_t partition);
    // Publishes what the outboxes of `partitions` hold beyond what is in flight, and advances
    // the stored watermarks once Kafka acknowledged everything produced (at once when `wait`).
    Result<bool, std::string> relay(const std::vector<std::uint32_t>& partitions, bool wait);
    // Produces one partition's entries and dead letters not yet produced.
    Result<bool, std::string> relay_produce(std::uint32_t partition);
    // Scale-out: brings newly assigned partitions up to what usage.ledger (the changelog) says
    // other instances did with them (ledger/changelog.h), before consuming resumes.
    Result<bool, std::string> rebuild(const std::vector<std::uint32_t>& partitions);
    Result<bool, std::string> rebuild_read(rd_kafka_t* reader,
                                           const std::vector<std::uint32_t>& partitions);
    std::vector<std::uint32_t> relay_pending() const;
    void publish_metrics();
    void log_status(std::uint64_t consumed, double seconds) const;

    LedgerMetrics metrics_;
    std::vector<std::int32_t> assigned_;  // partitions of events_topic, for the lag

    LedgerServiceOptions options_;
    std::unique_ptr<LedgerStore> store_;
    std::unique_ptr<kafka::PositionedConsumer> consumer_;
    kafka::Handle producer_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> delivery_failures_{0};
    // The relay's in-flight state (run()'s thread): per partition, the next entry and dead letter
    // sequence produced but not yet in the stored watermarks.
    std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> produced_;
    // Per partition: the source offset of the last progress marker produced, and the
    // usage.ledger offset after the last acknowledged publish.
    std::map<std::uint32_t, std::int64_t> marked_;
    std::map<std::uint32_t, std::int64_t> acked_changelog_;
    // Partitions rebuilt since they were assigned: only their acknowledged publishes move the
    // stored changelog position (a stale partition's publishes may follow others' unread ones).
    std::set<std::uint32_t> owned_;
    std::string rebuild_error_;  // a failed rebuild (in a rebalance callback) ends run()
    std::uint64_t relay_failures_seen_ = 0;
    std::chrono::steady_clock::time_point last_relay_advance_ = std::chrono::steady_clock::now();
    DiskGuard disk_guard_;
    std::uint64_t batches_committed_ = 0;
};

}  // namespace ul
