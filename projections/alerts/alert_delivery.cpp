#include "projections/alerts/alert_delivery.h"

#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <sstream>

#include "producers/record_publisher.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

constexpr std::size_t kDeliveries = 1;  // family indexes (0 is RocksDB's default)
constexpr std::size_t kAttempts = 2;

std::int64_t system_now() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

std::string encode_state(const AlertDeliveryState& state) {
    std::ostringstream out;
    out << state.status << '\n'
        << state.attempts << '\n'
        << state.raised_at_us << '\n'
        << state.next_at_us << '\n'
        << state.first_at_us << '\n'
        << state.tenant << '\n'
        << one_line(state.last_error) << '\n'
        << state.alert;
    return out.str();
}

std::optional<AlertDeliveryState> decode_state(const std::string& bytes) {
    std::istringstream in(bytes);
    AlertDeliveryState state;
    std::string line;
    try {
        std::getline(in, state.status);
        std::getline(in, line);
        state.attempts = static_cast<std::uint32_t>(std::stoul(line));
        std::getline(in, line);
        state.raised_at_us = std::stoll(line);
        std::getline(in, line);
        state.next_at_us = std::stoll(line);
        std::getline(in, line);
        state.first_at_us = std::stoll(line);
        std::getline(in, state.tenant);
        std::getline(in, state.last_error);
        std::getline(in, state.alert, '\0');
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (state.status.empty() || state.alert.empty()) {
        return std::nullopt;
    }
    return state;
}

std::string attempt_key(std::string_view id, std::uint32_t attempt) {
    std::string key(id);
    key.push_back('\0');
    for (int shift = 24; shift >= 0; shift -= 8) {
        key.push_back(static_cast<char>((attempt >> static_cast<unsigned>(shift)) & 0xffU));
    }
    return key;
}

// A string field of our own alert JSON (alert_json writes each once, in one order).
std::string alert_field(std::string_view json, std::string_view name) {
    const std::string key = "\"" + std::string(name) + "\":\"";
    const auto at = json.find(key);
    if (at == std::string_view::npos) {
        return "";
    }
    const auto start = at + key.size();
    return std::string(json.substr(start, json.find('"', start) - start));
}

// The alert as published and POSTed: its record with raised_at added.
std::string with_raised_at(std::string_view alert, std::int64_t raised_at_us) {
    std::string out(alert.substr(0, alert.size() - 1));
    out += ",\"raised_at\":\"" + format_rfc3339(raised_at_us) + "\"}";
    return out;
}

}  // namespace

struct AlertDelivery::Receiver {
    std::string url;
    std::multimap<std::int64_t, std::string> due;  // next attempt (µs) → alert id
    std::condition_variable changed;
    std::thread thread;
};

AlertDelivery::AlertDelivery(AlertDeliveryOptions options, ProjectionService& projections)
    : options_(std::move(options)), projections_(projections) {
    if (!options_.now_us) {
        options_.now_us = system_now;
    }
}

Result<std::unique_ptr<AlertDelivery>, std::string> AlertDelivery::start(
    AlertDeliveryOptions options, ProjectionService& projections) {
    std::unique_ptr<AlertDelivery> delivery(new AlertDelivery(std::move(options), projections));
    const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"deliveries", rocksdb::ColumnFamilyOptions()},
        {"attempts", rocksdb::ColumnFamilyOptions()}};
    auto db =
        RocksDb::open(base_store_options(StoreMode::read_write, 4U << 20U), delivery->options_.path,
                      families, StoreMode::read_write, "alert delivery store");
    if (!db) {
        return unexpected(db.error());
    }
    delivery->db_ = std::move(db).value();
    ProducerOptions producer;
    producer.bootstrap = delivery->options_.bootstrap;
    producer.topic = delivery->options_.alerts_topic;
    producer.extra_config = delivery->options_.kafka_settings;
    auto publisher = RecordPublisher::create(producer);
    if (!publisher) {
        return unexpected("alerts: " + publisher.error());
    }
    delivery->publisher_ = std::move(publisher).value();
    delivery->rescan();  // what an earlier run left pending
    delivery->pump_ = std::thread([self = delivery.get()] { self->pump(); });
    return delivery;
}

AlertDelivery::~AlertDelivery() {
    {
        std::lock_guard lock(mutex_);
        stop_.store(true);
        for (auto& [url, receiver] : receivers_) {
            receiver->changed.notify_all();
        }
    }
    wake_.notify_all();
    if (pump_.joinable()) {
        pump_.join();
    }
    for (auto& [url, receiver] : receivers_) {
        if (receiver->thread.joinable()) {
            receiver->thread.join();
        }
    }
}

void AlertDelivery::pump() {
    auto last_rescan = std::chrono::steady_clock::now();
    std::string last_error;  // logged once while it lasts, not every poll
    while (!stop_.load()) {
        if (auto taken = take_outbox(); !taken) {
            if (taken.error() != last_error) {
                spdlog::error("alerts: {} (retrying every {} ms)", taken.error(),
                              options_.poll_interval.count());
                last_error = taken.error();
            }
        } else if (!last_error.empty()) {
            spdlog::info("alerts: taking alerts from the outbox again");
            last_error.clear();
        }
        if (std::chrono::steady_clock::now() - last_rescan >= options_.rescan_interval) {
            rescan();
            last_rescan = std::chrono::steady_clock::now();
        }
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, options_.poll_interval, [this] { return stop_.load(); });
    }
}

Result<bool, std::string> AlertDelivery::take_outbox() {
    const ProjectionStore& store = projections_.runner().store();
    auto rows = store.outbox(0, 500);
    if (!rows || rows->empty()) {
        return rows ? Result<bool, std::string>(true) : unexpected(rows.error());
    }
    std::vector<std::uint64_t> taken;
    std::vector<std::pair<std::string, AlertDeliveryState>> fresh;
    rocksdb::WriteBatch batch;
    for (const auto& row : *rows) {
        taken.push_back(row.sequence);
        if (row.effect.kind != "alert") {
            continue;  // not ours (no other kind exists yet); removed all the same
        }
        if (auto held = state(row.effect.id); !held) {
            return unexpected(held.error());
        } else if (*held) {
            continue;  // raised before (a rebuilt projection decides the same ids again)
        }
        AlertDeliveryState state;
        state.status = "pending";
        state.raised_at_us = now_us();
        state.next_at_us = state.raised_at_us;
        state.tenant = alert_field(row.effect.payload, "tenant_id");
        state.alert = row.effect.payload;
        const std::string published = with_raised_at(state.alert, state.raised_at_us);
        if (auto sent = publisher_->publish(state.tenant, published, {}); !sent) {
            return unexpected("cannot publish to " + options_.alerts_topic + ": " + sent.error());
        }
        metrics_.published.fetch_add(1);
        {
            std::lock_guard lock(metrics_.threshold_mutex);
            const std::string amount = alert_field(row.effect.payload, "amount");
            ++metrics_.by_threshold[amount.empty()
                                        ? "percent:" + alert_field(row.effect.payload, "percent")
                                        : "amount:" + amount];
        }
        batch.Put(db_->family(kDeliveries), row.effect.id, encode_state(state));
        fresh.emplace_back(row.effect.id, std::move(state));
    }
    if (auto status = db_->get()->Write(rocksdb::WriteOptions(), &batch); !status.ok()) {
        return unexpected("cannot write the alert delivery store: " + status_text(status));
    }
    metrics_.raised.fetch_add(fresh.size());
    // Held here now: the outbox rows can go (on the runner's thread, its only writer).
    auto removed = projections_.runner().run_on_consumer_thread(
        [this, taken] { return projections_.runner().store().remove_from_outbox(taken); });
    if (!removed) {
        return unexpected("cannot remove delivered rows from the outbox: " + removed.error());
    }
    for (const auto& [id, state] : fresh) {
        const auto account = projections_.account(state.tenant);
        if (!account || account->alert_webhook_url.empty()) {
            AlertDeliveryState none = state;
            none.status = "no_webhook";
            metrics_.no_webhook.fetch_add(1);
            if (auto written = write_state(id, none, nullptr); !written) {
                return written;
            }
            continue;
        }
        enqueue(account->alert_webhook_url, id, state.next_at_us);
    }
    return true;
}

void AlertDelivery::rescan() {
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), db_->family(kDeliveries)));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
        const std::string id = iterator->key().ToString();
        auto state = decode_state(iterator->value().ToString());
        if (!state || state->status != "pending") {
            continue;
        }
        {
            std::lock_guard lock(mutex_);
            if (queued_.count(id) != 0 || in_flight_.count(id) != 0) {
                continue;
            }
        }
        const auto account = projections_.account(state->tenant);
        if (account && !account->alert_webhook_url.empty()) {
            enqueue(account->alert_webhook_url, id, state->next_at_us);
        }
    }
}

void AlertDelivery::enqueue(const std::string& url, const std::string& id, std::int64_t due_us,
                            bool retry) {
    std::lock_guard lock(mutex_);
    if (stop_.load() || queued_.count(id) != 0 || (!retry && in_flight_.count(id) != 0)) {
        return;
    }
    auto& receiver = receivers_[url];
    if (!receiver) {
        receiver = std::make_unique<Receiver>();
        receiver->url = url;
        receiver->thread = std::thread([this, raw = receiver.get()] { serve(*raw); });
    }
    if (receiver->due.size() >= options_.max_queue_per_receiver) {
        return;  // stays pending in the store; a later rescan queues it
    }
    receiver->due.emplace(due_us, id);
    queued_.insert(id);
    metrics_.queue_depth.fetch_add(1);
    receiver->changed.notify_all();
}

void AlertDelivery::serve(Receiver& receiver) {
    std::unique_lock lock(mutex_);
    while (!stop_.load()) {
        if (receiver.due.empty()) {
            receiver.changed.wait(lock);
            continue;
        }
        const auto [due_us, id] = *receiver.due.begin();
        const std::int64_t now = now_us();
        if (due_us > now) {
            receiver.changed.wait_for(lock, std::chrono::microseconds(due_us - now));
            continue;
        }
        receiver.due.erase(receiver.due.begin());
        queued_.erase(id);
        in_flight_.insert(id);  // a rescan meanwhile must not queue it a second time
        metrics_.queue_depth.fetch_sub(1);
        lock.unlock();
        attempt(id);
        lock.lock();
        in_flight_.erase(id);
    }
}

void AlertDelivery::attempt(const std::string& id) {
    auto held = state(id);
    if (!held || !*held || (*held)->status != "pending") {
        return;  // redelivered and done meanwhile, or unreadable (logged by state())
    }
    AlertDeliveryState current = **held;
    const auto account = projections_.account(current.tenant);
    if (!account || account->alert_webhook_url.empty()) {
        current.status = "no_webhook";
        metrics_.no_webhook.fetch_add(1);
        (void)write_state(id, current, nullptr);
        return;
    }
    const std::string body = with_raised_at(current.alert, current.raised_at_us);
    const std::int64_t started = now_us();
    const std::int64_t unix_seconds = started / 1'000'000;
    const std::vector<std::pair<std::string, std::string>> headers = {
        {std::string(kWebhookSignatureHeader),
         webhook_signature(account->alert_webhook_secret, unix_seconds, body)},
        {"Usage-Ledger-Event-Id", id}};
    const auto begun = std::chrono::steady_clock::now();
    const WebhookResponse response =
        post_webhook(account->alert_webhook_url, headers, body, options_.timeout);
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - begun)
                          .count();
    metrics_.latency_us.observe(static_cast<std::uint64_t>(took));
    const DeliveryVerdict verdict = classify_delivery(response);
    current.attempts += 1;
    if (current.first_at_us == 0) {
        current.first_at_us = started;
    }
    current.last_error = response.error.empty() && verdict != DeliveryVerdict::delivered
                             ? "HTTP " + std::to_string(response.status)
                             : response.error;
    std::optional<std::chrono::milliseconds> delay;
    if (verdict == DeliveryVerdict::delivered) {
        current.status = "delivered";
        current.last_error.clear();
        metrics_.delivered.fetch_add(1);
    } else if (verdict == DeliveryVerdict::failed) {
        current.status = "failed";
        metrics_.failed.fetch_add(1);
    } else {
        thread_local std::mt19937_64 random{std::random_device{}()};
        delay = next_retry_delay(options_.retry, current.attempts,
                                 std::chrono::milliseconds((now_us() - current.first_at_us) / 1000),
                                 random());
        if (delay) {
            current.next_at_us = now_us() + delay->count() * 1000;
            metrics_.retried.fetch_add(1);
        } else {
            current.status = "failed";
            current.last_error += " (given up)";
            metrics_.failed.fetch_add(1);
        }
    }
    std::string log = "{\"attempt\":" + std::to_string(current.attempts) + ",\"at\":\"" +
                      format_rfc3339(started) + "\",\"url\":";
    append_json_string(log, account->alert_webhook_url);
    log += ",\"status\":" +
           (response.status == 0 ? std::string("null") : std::to_string(response.status));
    log += ",\"timed_out\":";
    log += response.timed_out ? "true" : "false";
    log += ",\"error\":";
    append_json_string(log, response.error);
    log += ",\"duration_ms\":" + std::to_string(took / 1000) + ",\"outcome\":\"";
    log += verdict == DeliveryVerdict::delivered ? "delivered" : delay ? "retry" : "failed";
    log += "\"}";
    if (auto written = write_state(id, current, &log); !written) {
        spdlog::error("alerts: {}", written.error());
        return;
    }
    if (delay) {
        enqueue(account->alert_webhook_url, id, current.next_at_us, /*retry=*/true);
    }
}

Result<bool, std::string> AlertDelivery::write_state(const std::string& id,
                                                     const AlertDeliveryState& state,
                                                     const std::string* attempt_json) {
    std::lock_guard lock(state_mutex_);
    rocksdb::WriteBatch batch;
    batch.Put(db_->family(kDeliveries), id, encode_state(state));
    if (attempt_json != nullptr) {
        batch.Put(db_->family(kAttempts), attempt_key(id, state.attempts), *attempt_json);
    }
    if (auto status = db_->get()->Write(rocksdb::WriteOptions(), &batch); !status.ok()) {
        return unexpected("cannot write the alert delivery store: " + status_text(status));
    }
    return true;
}

Result<std::optional<AlertDeliveryState>, std::string> AlertDelivery::state(
    std::string_view alert_id) const {
    std::string value;
    const auto status = db_->get()->Get(rocksdb::ReadOptions(), db_->family(kDeliveries),
                                        rocksdb::Slice(alert_id.data(), alert_id.size()), &value);
    if (status.IsNotFound()) {
        return std::optional<AlertDeliveryState>();
    }
    if (!status.ok()) {
        return unexpected("cannot read the alert delivery store: " + status_text(status));
    }
    auto decoded = decode_state(value);
    if (!decoded) {
        return unexpected("a damaged delivery state for alert " + std::string(alert_id));
    }
    return decoded;
}

Result<std::vector<std::string>, std::string> AlertDelivery::attempts(
    std::string_view alert_id) const {
    std::vector<std::string> log;
    std::string prefix(alert_id);
    prefix.push_back('\0');
    std::unique_ptr<rocksdb::Iterator> iterator(
        db_->get()->NewIterator(rocksdb::ReadOptions(), db_->family(kAttempts)));
    for (iterator->Seek(prefix); iterator->Valid() && iterator->key().starts_with(prefix);
         iterator->Next()) {
        log.push_back(iterator->value().ToString());
    }
    if (!iterator->status().ok()) {
        return unexpected("cannot read the delivery log: " + status_text(iterator->status()));
    }
    return log;
}

Result<bool, std::string> AlertDelivery::redeliver(std::string_view alert_id) {
    const std::string id(alert_id);
    AlertDeliveryState current;
    {
        auto held = state(id);
        if (!held) {
            return unexpected(held.error());
        }
        if (!*held) {
            return false;
        }
        current = **held;
    }
    current.status = "pending";
    current.next_at_us = now_us();
    current.first_at_us = 0;  // a new give-up clock
    if (auto written = write_state(id, current, nullptr); !written) {
        return written;
    }
    const auto account = projections_.account(current.tenant);
    if (account && !account->alert_webhook_url.empty()) {
        enqueue(account->alert_webhook_url, id, current.next_at_us);
    }
    return true;
}

void AlertDelivery::append_metrics(std::string& out) const {
    append_metric_header(out, "alerts_raised_total", "counter",
                         "Alerts raised (taken from the projection's outbox), by threshold");
    {
        std::lock_guard lock(metrics_.threshold_mutex);
        for (const auto& [threshold, count] : metrics_.by_threshold) {
            append_metric_sample(out, "alerts_raised_total", "threshold=\"" + threshold + "\"",
                                 count);
        }
    }
    append_metric_header(out, "alerts_published_total", "counter",
                         "Alerts published to usage.alerts");
    append_metric_sample(out, "alerts_published_total", "", metrics_.published.load());
    append_metric_header(out, "alert_deliveries_total", "counter",
                         "Webhook attempts and outcomes, by outcome");
    append_metric_sample(out, "alert_deliveries_total", "outcome=\"delivered\"",
                         metrics_.delivered.load());
    append_metric_sample(out, "alert_deliveries_total", "outcome=\"retry\"",
                         metrics_.retried.load());
    append_metric_sample(out, "alert_deliveries_total", "outcome=\"failed\"",
                         metrics_.failed.load());
    append_metric_sample(out, "alert_deliveries_total", "outcome=\"no_webhook\"",
                         metrics_.no_webhook.load());
    append_histogram(out, "alert_delivery_latency_seconds",
                     "One webhook attempt, request to answer", metrics_.latency_us, true);
    append_metric_header(out, "alert_delivery_queue_depth", "gauge",
                         "Alerts waiting in memory for a webhook attempt");
    append_metric_sample(
        out, "alert_delivery_queue_depth", "",
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, metrics_.queue_depth.load())));
}

}  // namespace ul
