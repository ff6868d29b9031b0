// AlertDelivery: the worker that performs the alerts projection's effects from its outbox (the
// projection store's `outbox` family, alerts_reducer.h decides them). Live only: replay writes
// outbox rows into its own fresh store, where no worker runs, so a replay never delivers.
//
// Its own RocksDB store (<data-dir>/alerts, families `deliveries` and `attempts`):
//   deliveries  alert id → the delivery state: status (pending, delivered, failed, no_webhook),
//               attempts, raised_at, next attempt, last error, the alert JSON
//   attempts    alert id '\0' attempt (u32 BE) → one attempt's JSON (the delivery log)
// The pump thread takes the outbox rows (oldest first), skips an id it already holds (a rebuilt
// projection decides the same ids again: raised once, also then), publishes each new alert to
// usage.alerts (key: tenant; idempotent producer; waits for the acknowledgement), records its
// delivery state, and only then removes the rows from the outbox (on the runner's thread). A
// crash in between publishes an alert to usage.alerts again with the same id (at least once;
// consumers dedupe by id) and never loses one.
// Webhooks: each alert is POSTed to the tenant's webhook (the account's alert_webhook, as the
// account is at the attempt), signed (webhook.h: Usage-Ledger-Signature, Usage-Ledger-Event-Id).
// One thread per receiver URL, one request in flight per receiver, each bounded by `timeout`:
// a slow or dead receiver delays only its own alerts — never the projection, /readyz or another
// receiver. A receiver holds at most `max_queue_per_receiver` alerts in memory; the others wait
// in the store (pending) and are taken by the next rescan once it has room: nothing is dropped.
// Retries: timeouts, network errors, 408/425/429/5xx with the retry schedule (exponential backoff
// with jitter, default 10 s doubling to 1 h, given up after 24 h: status failed); other 4xx are
// final (failed). Every attempt goes to the log; redeliver() schedules a new attempt now.
// Threading: start() spawns the pump and receiver threads; every method is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "consumers/kafka.h"
#include "consumers/rocks_db.h"
#include "ledger/ledger_metrics.h"
#include "projections/alerts/webhook.h"
#include "projections/counters/projection_service.h"

namespace ul {

class RecordPublisher;

struct AlertDeliveryOptions {
    std::string path;  // <data-dir>/alerts
    std::string bootstrap;
    kafka::Properties kafka_settings;
    std::string alerts_topic = "usage.alerts";
    RetrySchedule retry;
    std::chrono::milliseconds timeout{10'000};  // one attempt, connect to answer
    std::size_t max_queue_per_receiver = 1'000;
    std::chrono::milliseconds poll_interval{200};      // how often the outbox is read
    std::chrono::milliseconds rescan_interval{5'000};  // pending alerts not queued yet
    std::function<std::int64_t()> now_us;              // default: the system clock
};

// One alert's delivery state.
struct AlertDeliveryState {
    std::string status;  // pending, delivered, failed, no_webhook
    std::uint32_t attempts = 0;
    std::int64_t raised_at_us = 0;  // when the pump took it from the outbox
    std::int64_t next_at_us = 0;    // pending: the next attempt
    std::int64_t first_at_us = 0;   // the first attempt (the give-up clock); 0: none yet
    std::string tenant;
    std::string last_error;
    std::string alert;  // the alert JSON (alert_json)
};

struct AlertDeliveryMetrics {
    std::atomic<std::uint64_t> raised{0};  // alerts taken from the outbox
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> retried{0};  // attempts that will be retried
    std::atomic<std::uint64_t> failed{0};   // final failures (4xx, given up)
    std::atomic<std::uint64_t> no_webhook{0};
    std::atomic<std::int64_t> queue_depth{0};  // alerts waiting for a webhook attempt
    // One attempt, request to answer (µs).
    Histogram<10> latency_us{
        {{1000, 5000, 10000, 50000, 100000, 500000, 1000000, 2500000, 5000000, 10000000}}};
    mutable std::mutex threshold_mutex;
    std::map<std::string, std::uint64_t> by_threshold;  // "percent:0.8" → count
};

class AlertDelivery {
  public:
    static Result<std::unique_ptr<AlertDelivery>, std::string> start(
        AlertDeliveryOptions options, ProjectionService& projections);
    ~AlertDelivery();  // stops and joins every thread
    AlertDelivery(const AlertDelivery&) = delete;
    AlertDelivery& operator=(const AlertDelivery&) = delete;

    Result<std::optional<AlertDeliveryState>, std::string> state(std::string_view alert_id) const;
    // The delivery log of one alert, oldest first (JSON objects).
    Result<std::vector<std::string>, std::string> attempts(std::string_view alert_id) const;
    // Schedules a new attempt now (whatever the status); false when the alert is unknown.
    Result<bool, std::string> redeliver(std::string_view alert_id);
    const AlertDeliveryMetrics& metrics() const { return metrics_; }
    void append_metrics(std::string& out) const;  // Prometheus text

  private:
    struct Receiver;
    AlertDelivery(AlertDeliveryOptions options, ProjectionService& projections);
    std::int64_t now_us() const { return options_.now_us(); }
    void pump();
    Result<bool, std::string> take_outbox();
    void rescan();
    // Queues an attempt unless the alert is queued already or (but for the retry an attempt
    // schedules itself) being attempted.
    void enqueue(const std::string& url, const std::string& id, std::int64_t due_us,
                 bool retry = false);
    void serve(Receiver& receiver);
    void attempt(const std::string& id);
    Result<bool, std::string> write_state(const std::string& id, const AlertDeliveryState& state,
                                          const std::string* attempt_json);

    AlertDeliveryOptions options_;
    ProjectionService& projections_;
    std::unique_ptr<RocksDb> db_;
    std::unique_ptr<RecordPublisher> publisher_;
    AlertDeliveryMetrics metrics_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;  // receivers_, queued_, the pump's wake-up
    std::condition_variable wake_;
    std::map<std::string, std::unique_ptr<Receiver>> receivers_;  // by URL
    std::set<std::string> queued_;                                // ids in some receiver's queue
    std::set<std::string> in_flight_;                             // ids being attempted
    std::mutex state_mutex_;  // read-modify-write of one delivery state
    std::thread pump_;
};

}  // namespace ul
