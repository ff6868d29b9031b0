#include "ledger/ledger_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "consumers/kafka_admin.h"
#include "ledger/changelog.h"
#include "schemas/canonical.h"

namespace ul {
namespace {

void delivery_callback(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message, void* opaque) {
    static_cast<LedgerService*>(opaque)->delivered(*message);
}

// Produces one relayed message, waiting (polling) while the local queue is full. Takes the
// headers in every case. False when librdkafka refused the message outright.
bool produce_relayed(rd_kafka_t* producer, const std::string& topic, std::int32_t partition,
                     std::string_view key, std::string_view value, rd_kafka_headers_t* headers) {
    while (true) {
        const auto error = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key.data(), key.size()),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (error == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(producer, 10);
            continue;
        }
        if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_headers_destroy(headers);  // not taken over on failure
            spdlog::error("ledger: cannot relay to {}: {}", topic, rd_kafka_err2str(error));
            return false;
        }
        return true;
    }
}

kafka::Properties consumer_settings(const LedgerServiceOptions& config) {
    kafka::Properties settings = config.kafka_settings;
    if (config.session_timeout_ms > 0) {
        settings.emplace_back("session.timeout.ms", std::to_string(config.session_timeout_ms));
        settings.emplace_back("heartbeat.interval.ms",
                              std::to_string(std::max(100, config.session_timeout_ms / 3)));
    }
    return settings;
}

}  // namespace

void LedgerService::delivered(const rd_kafka_message_t& message) {
    if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        delivery_failures_.fetch_add(1);
        spdlog::error("ledger: relay delivery failed: {}", rd_kafka_err2str(message.err));
        return;
    }
    if (message.rkt != nullptr && options_.ledger_topic == rd_kafka_topic_name(message.rkt) &&
        owned_.count(static_cast<std::uint32_t>(message.partition)) > 0) {
        std::int64_t& next = acked_changelog_[static_cast<std::uint32_t>(message.partition)];
        next = std::max(next, message.offset + 1);
    }
}

LedgerService::LedgerService(LedgerServiceOptions options)
    : options_(std::move(options)),
      disk_guard_("ledger", options_.data_dir + "/ledger", options_.min_free_disk) {}

LedgerService::~LedgerService() {
    consumer_.reset();  // closing may revoke partitions: its hooks use the members below
}

Result<std::unique_ptr<LedgerService>, std::string> LedgerService::start(
    LedgerServiceOptions options) {
    std::unique_ptr<LedgerService> service(new LedgerService(std::move(options)));
    const LedgerServiceOptions& config = service->options_;
    LedgerStoreOptions store_options;
    store_options.path = config.data_dir + "/ledger";
    store_options.sync = config.sync;
    store_options.validation = config.validation;
    store_options.limits = config.limits;
    if (config.limits != nullptr && !config.assign_all) {
        return unexpected(std::string(
            "hard limits need the single-instance ledger (--assign-all): a partition moved to "
            "another instance would not carry its limit totals"));
    }
    auto store = open_writer_store<LedgerStore>("ledger", store_options, config.min_free_disk);
    if (!store) {
        return unexpected(store.error());
    }
    service->store_ = std::move(store).value();

    LedgerService* self = service.get();
    auto consumer = kafka::PositionedConsumer::create(
        {.bootstrap = config.bootstrap,
         .group = config.group,
         .client_id = "usage-ledger-ledger",
         .topics = {config.events_topic},
         .assign_all = config.assign_all,
         .settings = consumer_settings(config)},
        // Every batch is written before the next poll; before partitions may go to another
        // instance, everything it decided is published (entries and progress markers), so
        // the next owner finds it in the changelog.
        {.before_rebalance =
             [self] {
                 if (auto relayed = self->relay(self->relay_pending(), true); !relayed) {
                     spdlog::warn("ledger: before a rebalance: {}", relayed.error());
                 }
             },
         .before_assign =
             [self](const std::vector<kafka::TopicPartition>& partitions) {
                 std::vector<std::uint32_t> moved;  // not already ours (a re-assign keeps them)
                 for (const auto& partition : partitions) {
                     if (std::find(self->assigned_.begin(), self->assigned_.end(),
                                   partition.partition) == self->assigned_.end()) {
                         moved.push_back(static_cast<std::uint32_t>(partition.partition));
                     }
                 }
                 if (auto rebuilt = self->rebuild(moved); !rebuilt) {
                     self->rebuild_error_ = rebuilt.error();
                 }
             },
         .start_offset =
             [self](const kafka::TopicPartition& partition) {
                 const auto state =
                     self->store_->partition(static_cast<std::uint32_t>(partition.partition));
                 return state.next_offset >= 0 ? state.next_offset
                                               : std::int64_t{RD_KAFKA_OFFSET_BEGINNING};
             },
         .assigned =
             [self](const std::vector<kafka::TopicPartition>& partitions) {
                 self->assigned_.clear();
                 for (const auto& partition : partitions) {
                     self->assigned_.push_back(partition.partition);
                 }
                 std::erase_if(self->owned_, [self](std::uint32_t partition) {
                     return std::find(self->assigned_.begin(), self->assigned_.end(),
                                      static_cast<std::int32_t>(partition)) ==
                            self->assigned_.end();
                 });
                 if (!partitions.empty()) {
                     spdlog::info(
                         "ledger: assigned {} partitions of {}, resuming at the stored "
                         "offsets",
                         partitions.size(), self->options_.events_topic);
                 }
                 self->metrics_.assigned_partitions.store(self->assigned_.size());
             }});
    if (!consumer) {
        return unexpected(consumer.error());
    }
    service->consumer_ = std::move(consumer).value();

    auto producer_config = kafka::make_config(kafka::with_settings(
        {
            {"bootstrap.servers", config.bootstrap},
            {"client.id", "usage-ledger-relay"},
            {"enable.idempotence", "true"},
            {"acks", "all"},
            {"linger.ms", "2"},
            {"message.timeout.ms", "30000"},
        },
        config.kafka_settings));
    if (!producer_config) {
        return unexpected(producer_config.error());
    }
    rd_kafka_conf_set_opaque(producer_config->get(), service.get());
    rd_kafka_conf_set_dr_msg_cb(producer_config->get(), delivery_callback);
    auto producer = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(producer_config).value());
    if (!producer) {
        return unexpected(producer.error());
    }
    service->producer_ = std::move(producer).value();
    // An entry goes to the usage.ledger partition of its source event, so the two topics must
    // have the same partition count: refuse to start when both exist and differ.
    auto metadata = kafka::wait_for_cluster(service->producer_.get(), config.bootstrap, 10000);
    if (!metadata) {
        spdlog::warn("ledger: partition counts of {} and {} not checked: {}", config.events_topic,
                     config.ledger_topic, metadata.error());
    } else if (auto mismatch = kafka::partition_mismatch(
                   config.events_topic, kafka::partition_count(**metadata, config.events_topic),
                   config.ledger_topic, kafka::partition_count(**metadata, config.ledger_topic))) {
        return unexpected(*mismatch);
    }
    return service;
}

Result<bool, std::string> LedgerService::handle_offset_error(std::int32_t partition) {
    auto bounds = consumer_->log_bounds({options_.events_topic, partition});
    if (!bounds) {
        return unexpected(bounds.error());
    }
    const auto [low, high] = *bounds;
    const auto state = store_->partition(static_cast<std::uint32_t>(partition));
    const std::int64_t from = state.next_offset;
    if (from < low) {
        spdlog::error(
            "ledger: GAP in {} partition {}: offsets {}..{} ({} events) are gone from "
            "Kafka before the ledger read them; recorded, continuing at {}",
            options_.events_topic, partition, from, low - 1, low - from, low);
    } else if (options_.expect_log_resets) {
        spdlog::info(
            "ledger: {} partition {}: the embedded broker started empty (stored offset {}, log "
            "end {}); recorded as a log reset, continuing at {}",
            options_.events_topic, partition, from, high, low);
    } else {
        spdlog::error(
            "ledger: {} partition {}: stored offset {} is beyond the log end {} (the "
            "broker's log was reset); recorded as a log reset, continuing at {}",
            options_.events_topic, partition, from, high, low);
    }
    auto recorded = store_->record_gap(static_cast<std::uint32_t>(partition), from, low);
    if (!recorded) {
        return recorded;
    }
    // Re-assign from the stored offsets (a seek does not restart a partition stopped by an
    // offset error). Messages of other partitions fetched twice are redeliveries: skipped.
    return consumer_->reassign();
}

Result<bool, std::string> LedgerService::relay(const std::vector<std::uint32_t>& partitions,
                                               bool wait) {
    // Produce what the outboxes hold beyond what is already in flight; advance the stored
    // watermarks only when everything produced so far is acknowledged (nothing queued or in
    // flight, no failure since the last check). Consuming does not wait for publishing, except
    // when `wait`, or when acknowledgements have not caught up for a second.
    for (const std::uint32_t partition : partitions) {
        auto produced = relay_produce(partition);
        if (!produced) {
            return unexpected(produced.error());
        }
    }
    if (produced_.empty()) {
        return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (wait || now - last_relay_advance_ > std::chrono::seconds(1)) {
        (void)rd_kafka_flush(producer_.get(), 30000);
    } else {
        rd_kafka_poll(producer_.get(), 0);
    }
    if (const auto failures = delivery_failures_.load(); failures != relay_failures_seen_) {
        relay_failures_seen_ = failures;
        produced_.clear();  // produce again from the stored watermarks
        marked_.clear();
        metrics_.relay_failures.fetch_add(1);
        return unexpected(std::string("relay to Kafka did not complete; will retry"));
    }
    if (rd_kafka_outq_len(producer_.get()) > 0) {
        return true;  // acknowledgements still to come
    }
    for (const auto& [partition, next] : produced_) {
        const auto acked = acked_changelog_.find(partition);
        if (auto set = store_->set_outbox(partition, next.first, next.second,
                                          acked == acked_changelog_.end() ? -1 : acked->second);
            !set) {
            return set;
        }
    }
    produced_.clear();
    last_relay_advance_ = now;
    return true;
}

Result<bool, std::string> LedgerService::rebuild(const std::vector<std::uint32_t>& partitions) {
    if (partitions.empty()) {
        return true;
    }
    if (options_.assign_all) {
        // The only instance (no group): nobody else writes the changelog, the store is whole.
        owned_.insert(partitions.begin(), partitions.end());
        return true;
    }
    for (const std::uint32_t partition : partitions) {
        owned_.erase(partition);
        acked_changelog_.erase(partition);
    }
    // A plain reader without a group (assign only): the changelog's partitions are read to
    // their end as it is now.
    auto config = kafka::make_config(kafka::with_settings(
        {
            {"bootstrap.servers", options_.bootstrap},
            {"group.id", options_.group + ".rebuild"},
            {"client.id", "usage-ledger-rebuild"},
            {"enable.auto.commit", "false"},
            {"enable.auto.offset.store", "false"},
            {"enable.partition.eof", "true"},
            {"auto.offset.reset", "earliest"},
            {"fetch.wait.max.ms", "10"},
        },
        options_.kafka_settings));
    if (!config) {
        return unexpected(config.error());
    }
    auto reader = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(config).value());
    if (!reader) {
        return unexpected(reader.error());
    }
    rd_kafka_poll_set_consumer(reader->get());
    auto read = rebuild_read(reader->get(), partitions);
    rd_kafka_consumer_close(reader->get());
    if (read) {
        owned_.insert(partitions.begin(), partitions.end());
    }
    return read;
}

Result<bool, std::string> LedgerService::rebuild_read(
    rd_kafka_t* reader, const std::vector<std::uint32_t>& partitions) {
    struct Reading {
        PartitionRebuild rebuild;
        std::int64_t end = 0;       // offset after the last message read
        std::uint64_t adopted = 0;  // entries
        bool moved_on = false;      // a marker further along than the store was adopted
        bool done = false;
    };
    std::map<std::int32_t, Reading> readings;
    kafka::PartitionList list(
        rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
    for (const std::uint32_t partition : partitions) {
        const PartitionState state = store_->partition(partition);
        readings.emplace(static_cast<std::int32_t>(partition),
                         Reading{PartitionRebuild(partition, state.next_offset, state.next_sequence,
                                                  state.chain_head),
                                 state.changelog_next});
        // One fetch per partition, no watermark round trips: read from where the store knows
        // the changelog (outside the log — a new or emptied broker, retention — from its
        // start: auto.offset.reset=earliest) until the end-of-partition event.
        rd_kafka_topic_partition_list_add(list.get(), options_.ledger_topic.c_str(),
                                          static_cast<std::int32_t>(partition))
            ->offset = state.changelog_next > 0 ? state.changelog_next
                                                : std::int64_t{RD_KAFKA_OFFSET_BEGINNING};
    }
    if (readings.empty()) {
        return true;
    }
    if (const auto error = rd_kafka_assign(reader, list.get());
        error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unexpected("cannot read " + options_.ledger_topic + ": " + rd_kafka_err2str(error));
    }
    std::size_t open = readings.size();
    auto last_progress = std::chrono::steady_clock::now();
    while (open > 0) {
        if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(60)) {
            return unexpected("reading " + options_.ledger_topic +
                              " to rebuild moved partitions made no progress for 60 s");
        }
        kafka::Message message(rd_kafka_consumer_poll(reader, 100));
        if (!message) {
            continue;
        }
        const auto found = readings.find(message->partition);
        if (found == readings.end() || found->second.done) {
            continue;
        }
        Reading& reading = found->second;
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            reading.done = true;
            --open;
            continue;
        }
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            spdlog::warn("ledger: reading {} to rebuild: {}", options_.ledger_topic,
                         rd_kafka_message_errstr(message.get()));
            continue;
        }
        last_progress = std::chrono::steady_clock::now();
        const std::string_view value(static_cast<const char*>(message->payload), message->len);
        const auto partition = static_cast<std::uint32_t>(message->partition);
        if (kafka::header_of(*message, kMarkerHeader)) {
            auto marker = decode_progress_marker(value);
            if (!marker) {
                return unexpected(options_.ledger_topic + " partition " +
                                  std::to_string(partition) + " offset " +
                                  std::to_string(message->offset) + ": " + marker.error());
            }
            auto adoption = reading.rebuild.marker(*marker);
            if (!adoption) {
                return unexpected(adoption.error());
            }
            if (*adoption) {
                if (auto adopted = store_->adopt(partition, **adoption, message->offset + 1);
                    !adopted) {
                    return adopted;
                }
                reading.adopted += (*adoption)->entries.size();
                reading.moved_on = true;
            }
        } else if (auto taken = reading.rebuild.entry(value); !taken) {
            return unexpected(taken.error());
        }
        reading.end = message->offset + 1;
    }
    for (const auto& [partition, reading] : readings) {
        const auto moved = static_cast<std::uint32_t>(partition);
        const PartitionState state = store_->partition(moved);
        if (reading.moved_on) {
            spdlog::info(
                "ledger: partition {}: read {} to its end ({}); adopted {} entries, continuing at "
                "source offset {} with sequence {}",
                partition, options_.ledger_topic, reading.end, reading.adopted, state.next_offset,
                state.next_sequence);
        }
        produced_.erase(moved);  // what was in flight is part of what was read
        marked_.erase(moved);
    }
    return true;
}

std::vector<std::uint32_t> LedgerService::relay_pending() const {
    std::vector<std::uint32_t> pending;
    for (const auto& [partition, state] : store_->partitions()) {
        const auto marked = marked_.find(partition);
        const bool assigned = std::find(assigned_.begin(), assigned_.end(),
                                        static_cast<std::int32_t>(partition)) != assigned_.end();
        if (state.outbox_next != state.next_sequence || state.dlq_outbox_next != state.dlq_next ||
            (assigned && state.next_offset >= 0 &&
             (marked == marked_.end() || marked->second != state.next_offset))) {
            pending.push_back(partition);
        }
    }
    return pending;
}

Result<bool, std::string> LedgerService::relay_produce(std::uint32_t partition) {
    const PartitionState state = store_->partition(partition);
    // Start after what is in flight already (produced, not yet reflected in the watermark).
    std::uint64_t entries_from = state.outbox_next;
    std::uint64_t letters_from = state.dlq_outbox_next;
    if (const auto found = produced_.find(partition); found != produced_.end()) {
        entries_from = std::max(entries_from, found->second.first);
        letters_from = std::max(letters_from, found->second.second);
    }
    const auto marked = marked_.find(partition);
    const bool mark =
        state.next_offset >= 0 && (marked == marked_.end() || marked->second != state.next_offset);
    if (entries_from == state.next_sequence && letters_from == state.dlq_next && !mark) {
        return true;
    }
    std::uint64_t outbox_next = entries_from;
    auto read = store_->read_entries(
        partition, entries_from, state.next_sequence - entries_from,
        [&](std::uint64_t sequence, std::string_view entry) {
            const std::string partition_text = std::to_string(partition);
            const std::string sequence_text = std::to_string(sequence);
            const std::string_view tenant = canonical_tenant_id(entry);
            rd_kafka_headers_t* headers = rd_kafka_headers_new(2);
            rd_kafka_header_add(headers, "ledger-partition", -1, partition_text.data(),
                                static_cast<ssize_t>(partition_text.size()));
            rd_kafka_header_add(headers, "ledger-seq", -1, sequence_text.data(),
                                static_cast<ssize_t>(sequence_text.size()));
            if (!produce_relayed(producer_.get(), options_.ledger_topic,
                                 static_cast<std::int32_t>(partition), tenant, entry, headers)) {
                delivery_failures_.fetch_add(1);
            }
            outbox_next = sequence + 1;
        });
    if (!read) {
        return unexpected(read.error());
    }
    if (mark && outbox_next == state.next_sequence) {
        // After the entries (same partition, one idempotent producer: in order): where this
        // instance stands, for an instance that takes the partition over (ledger/changelog.h).
        std::string marker;
        append_progress_marker({.partition = partition,
                                .next_offset = state.next_offset,
                                .next_sequence = state.next_sequence,
                                .chain_head = state.chain_head,
                                .counts = state.counts},
                               marker);
        const std::string partition_text = std::to_string(partition);
        rd_kafka_headers_t* headers = rd_kafka_headers_new(2);
        rd_kafka_header_add(headers, "ledger-partition", -1, partition_text.data(),
                            static_cast<ssize_t>(partition_text.size()));
        rd_kafka_header_add(headers, kMarkerHeader.data(),
                            static_cast<ssize_t>(kMarkerHeader.size()), kProgressMarker.data(),
                            static_cast<ssize_t>(kProgressMarker.size()));
        if (!produce_relayed(producer_.get(), options_.ledger_topic,
                             static_cast<std::int32_t>(partition), std::string_view(), marker,
                             headers)) {
            delivery_failures_.fetch_add(1);
        }
        marked_[partition] = state.next_offset;
    }
    std::uint64_t dlq_outbox_next = letters_from;
    auto letters = store_->read_dead_letters(
        partition, letters_from, state.dlq_next - letters_from,
        [&](std::uint64_t sequence, const DeadLetter& letter) {
            const std::string source_partition = std::to_string(partition);
            const std::string source_offset = std::to_string(letter.source_offset);
            const std::string_view code = reason_code(letter.reason);
            rd_kafka_headers_t* headers = rd_kafka_headers_new(5);
            rd_kafka_header_add(headers, "error", -1, code.data(),
                                static_cast<ssize_t>(code.size()));
            rd_kafka_header_add(headers, "detail", -1, letter.detail.data(),
                                static_cast<ssize_t>(letter.detail.size()));
            rd_kafka_header_add(headers, "source-partition", -1, source_partition.data(),
                                static_cast<ssize_t>(source_partition.size()));
            rd_kafka_header_add(headers, "source-offset", -1, source_offset.data(),
                                static_cast<ssize_t>(source_offset.size()));
            if (letter.value_null) {  // relayed as NULL again (a null data pointer)
                rd_kafka_header_add(headers, "null-value", -1, "true", 4);
            }
            if (!produce_relayed(producer_.get(), options_.dlq_topic, RD_KAFKA_PARTITION_UA,
                                 letter.key, letter.value_null ? std::string_view() : letter.value,
                                 headers)) {
                delivery_failures_.fetch_add(1);
            }
            dlq_outbox_next = sequence + 1;
        });
    if (!letters) {
        return unexpected(letters.error());
    }
    produced_[partition] = std::make_pair(outbox_next, dlq_outbox_next);
    return true;
}

void LedgerService::publish_metrics() {
    std::uint64_t gap_events = 0;
    std::uint64_t gaps = 0;
    std::uint64_t resets = 0;
    for (const auto& gap : store_->gaps()) {
        if (gap.reset()) {  // a stored offset beyond a new broker's log end: nothing known lost
            ++resets;
            continue;
        }
        ++gaps;
        gap_events += static_cast<std::uint64_t>(gap.to - gap.from);
    }
    metrics_.publish_counts(store_->counts(), gap_events, gaps, resets);
    // Lag from the watermarks the consumer already has (fetch responses): no broker round trip.
    std::int64_t lag = 0;
    for (const auto partition : assigned_) {
        const auto bounds = consumer_->cached_log_bounds({options_.events_topic, partition});
        if (!bounds) {
            return;  // not known yet: keep the previous value
        }
        const auto [low, high] = *bounds;
        const std::int64_t next =
            store_->partition(static_cast<std::uint32_t>(partition)).next_offset;
        lag += std::max<std::int64_t>(0, high - std::max(next, low));
    }
    metrics_.consumer_lag.store(lag);
}

void LedgerService::log_status(std::uint64_t consumed, double seconds) const {
    const auto batches = metrics_.batch_size.count();
    spdlog::info(
        "ledger: {} consumed ({:.0f}/s over the last {:.0f} s), {} accepted, {} duplicate, {} "
        "conflict, {} dead-lettered; lag {} events; {} batches, mean {} events and {} µs to "
        "commit",
        store_->counts().consumed(), static_cast<double>(consumed) / seconds, seconds,
        store_->counts().accepted, store_->counts().duplicate, store_->counts().conflict,
        store_->counts().dead_lettered, metrics_.consumer_lag.load(), batches,
        batches == 0 ? 0 : metrics_.batch_size.sum() / batches,
        batches == 0 ? 0 : metrics_.commit_latency_us.sum() / batches);
}

Result<bool, std::string> LedgerService::run() {
    if (auto joined = consumer_->join(); !joined) {
        return joined;
    }
    if (!rebuild_error_.empty()) {
        return unexpected("cannot take over the assigned partitions: " + rebuild_error_);
    }
    publish_metrics();
    // The relay learns where its topics' partitions live now rather than on its first message,
    // which otherwise made the first entries of a run wait ~0.4 s before they reached
    // usage.ledger (measured with `bench e2e --warmup-seconds 0`).
    for (const std::string* topic : {&options_.ledger_topic, &options_.dlq_topic}) {
        if (auto loaded = kafka::load_topic_metadata(producer_.get(), *topic, 10000); !loaded) {
            spdlog::warn("ledger: {}", loaded.error());
        }
    }
    // Entries written before a crash but not yet relayed go out first.
    {
        std::vector<std::uint32_t> all;
        for (const auto& [partition, state] : store_->partitions()) {
            all.push_back(partition);
        }
        if (auto relayed = relay(all, true); !relayed) {
            spdlog::warn("ledger: {}", relayed.error());
        }
    }
    std::vector<kafka::Message> messages;
    std::vector<SourceMessage> batch;
    auto last_status = std::chrono::steady_clock::now();
    std::uint64_t consumed_at_status = store_->counts().consumed();
    messages.reserve(options_.max_batch);
    batch.reserve(options_.max_batch);
    bool waited_for_limits = false;
    while (!stop_.load()) {
        if (const auto now = std::chrono::steady_clock::now();
            now - last_status >= options_.status_interval) {
            const std::uint64_t consumed = store_->counts().consumed();
            log_status(consumed - consumed_at_status,
                       std::chrono::duration<double>(now - last_status).count());
            last_status = now;
            consumed_at_status = consumed;
        }
        messages.clear();
        batch.clear();
        const bool writable = disk_guard_.writable();
        metrics_.disk_free_bytes.store(disk_guard_.last_free_bytes());
        metrics_.disk_paused.store(writable ? 0 : 1);
        if (!writable) {
            // Nothing is polled while the disk is short of space (a polled message would have
            // to be applied): positions stay in RocksDB, Kafka keeps the events, and they are
            // read when space returns. In a group, a pause past max.poll.interval.ms leaves the
            // group; the rebalance on return seeks to the stored positions.
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        if (options_.limits != nullptr && !options_.limits->ready()) {
            // The hard limits depend on the accounts (plan, billing period): nothing is decided
            // before they are read, or an event would be judged by the default plan.
            if (!waited_for_limits) {
                spdlog::info("ledger: waiting for the accounts before deciding hard limits");
                waited_for_limits = true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        int timeout_ms = 100;
        while (messages.size() < options_.max_batch) {
            kafka::Message message = consumer_->poll(timeout_ms);
            if (!rebuild_error_.empty()) {  // in a rebalance inside poll()
                return unexpected("cannot take over moved partitions: " + rebuild_error_);
            }
            if (!message) {
                break;
            }
            timeout_ms = 0;  // take what is already here, then apply
            if (kafka::PositionedConsumer::is_offset_error(*message)) {
                auto handled = handle_offset_error(message->partition);
                if (!handled) {
                    return handled;
                }
                continue;
            }
            if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                spdlog::warn("ledger: consumer: {}", rd_kafka_message_errstr(message.get()));
                continue;
            }
            batch.push_back(SourceMessage{
                static_cast<std::uint32_t>(message->partition), message->offset,
                std::string_view(static_cast<const char*>(message->key), message->key_len),
                std::string_view(static_cast<const char*>(message->payload), message->len),
                message->payload == nullptr});
            messages.push_back(std::move(message));
        }
        if (batch.empty()) {
            publish_metrics();
            // Idle: retry relays that did not complete (e.g. Kafka was briefly away).
            const std::vector<std::uint32_t> pending = relay_pending();
            if (!pending.empty()) {
                if (auto relayed = relay(pending, false); !relayed) {
                    spdlog::warn("ledger: {}", relayed.error());
                }
            }
            continue;
        }
        const auto commit_start = std::chrono::steady_clock::now();
        if (options_.test_fail_after_batches > 0 &&
            batches_committed_ >= options_.test_fail_after_batches) {
            return unexpected(
                std::string("ledger store write failed: IO error: injected by "
                            "--test-fail-ledger-after-batches"));
        }
        auto applied = store_->apply(batch, options_.now_us());
        if (!applied) {
            return unexpected(applied.error());
        }
        metrics_.commit_latency_us.observe(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           std::chrono::steady_clock::now() - commit_start)
                                           .count()));
        metrics_.batch_size.observe(batch.size());
        ++batches_committed_;
        publish_metrics();
        if (options_.commit_waiter != nullptr) {
            options_.commit_waiter->committed(batch, *applied);
        }
        std::set<std::uint32_t> touched;
        for (const auto& message : batch) {
            touched.insert(message.partition);
        }
        if (auto relayed = relay(std::vector<std::uint32_t>(touched.begin(), touched.end()), false);
            !relayed) {
            spdlog::warn("ledger: {}", relayed.error());
        }
    }
    // Publish what is in flight and record it, so a restart does not publish it again.
    if (auto relayed = relay({}, true); !relayed) {
        spdlog::warn("ledger: {}", relayed.error());
    }
    spdlog::info("ledger: stopping; {} consumed so far", store_->counts().consumed());
    return true;
}

}  // namespace ul
