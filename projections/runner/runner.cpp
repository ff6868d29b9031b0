#include "projections/runner/runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "ledger/ledger_store.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
ProjectionRunner::ProjectionRunner(ProjectionRunnerOptions options,
                                   std::shared_ptr<const Reducer> reducer)
    : options_(std::move(options)),
      reducer_(std::move(reducer)),
      pending_(*reducer_),
      flushing_(*reducer_),
      applier_(*reducer_, history_),
      disk_guard_("projections", options_.data_dir + "/projections", options_.min_free_disk) {}

ProjectionRunner::~ProjectionRunner() {
    consumer_.reset();  // closing may revoke partitions: its hooks use the members below
}

Result<std::unique_ptr<ProjectionRunner>, std::string> ProjectionRunner::start(
    ProjectionRunnerOptions options, std::shared_ptr<const Reducer> reducer) {
    std::unique_ptr<ProjectionRunner> service(
        new ProjectionRunner(std::move(options), std::move(reducer)));
    const ProjectionRunnerOptions& config = service->options_;
    ProjectionStoreOptions store_options;
    store_options.path = config.data_dir + "/projections";
    store_options.sync = config.sync;
    store_options.families = service->reducer_->families();
    auto store =
        open_writer_store<ProjectionStore>("projections", store_options, config.min_free_disk);
    if (!store) {
        return unexpected(store.error());
    }
    service->store_ = std::move(store).value();
    service->applier_.set_state(service->store_.get());
    // Accounts as last seen (usage.accounts is re-read from its start below; the embedded
    // broker forgets it on restart, the store does not).
    auto stored = service->store_->accounts();
    if (!stored) {
        return unexpected(stored.error());
    }
    for (const auto& [tenant, json] : *stored) {
        if (auto account = parse_account(json)) {
            service->accounts_[tenant] = *account;
            for (const ActiveKey& held : active_keys(*account)) {
                service->tenant_by_key_hash_.emplace(held.sha256, tenant);
            }
        }
    }
    auto deletions = service->store_->account_deletions();
    if (!deletions) {
        return unexpected(deletions.error());
    }
    service->deleted_at_.insert(deletions->begin(), deletions->end());
    auto history = service->store_->account_history();
    if (!history) {
        return unexpected(history.error());
    }
    service->history_ = std::move(history).value();
    for (const auto& [partition, state] : service->store_->partitions()) {
        service->positions_[partition] = state.next_sequence;
    }
    if (config.heal_from_ledger) {
        LedgerStoreOptions ledger_options;
        ledger_options.path = config.data_dir + "/ledger";
        auto ledger = LedgerStore::open(ledger_options, OpenMode::secondary);
        if (!ledger) {
            return unexpected("the ledger store to heal from: " + ledger.error());
        }
        service->ledger_ = std::move(ledger).value();
    } else {
        service->metrics_.caught_up.store(true);  // nothing to compare with here
    }

    ProjectionRunner* self = service.get();
    auto consumer = kafka::PositionedConsumer::create(
        {.bootstrap = config.bootstrap,
         .group = config.group,
         .client_id = "usage-ledger-projections",
         .topics = {config.ledger_topic, config.accounts_topic},
         .assign_all = config.assign_all,
         .partition_eof = true,  // to know when usage.accounts has been read
         .settings = config.kafka_settings},
        {// Revoked partitions may go to another consumer, and assigned ones start at the stored
         // positions: what was applied must be written first.
         .before_rebalance =
             [self] {
                 if (auto flushed = self->flush(); !flushed) {
                     self->failed_ = flushed.error();
                 }
             },
         .before_assign = {},
         .start_offset =
             [self](const kafka::TopicPartition& partition) {
                 return self->start_offset(partition);
             },
         .assigned =
             [self](const std::vector<kafka::TopicPartition>& partitions) {
                 self->on_assigned(partitions);
             }});
    if (!consumer) {
        return unexpected(consumer.error());
    }
    service->consumer_ = std::move(consumer).value();
    return service;
}

std::int64_t ProjectionRunner::start_offset(const kafka::TopicPartition& partition) const {
    if (partition.topic != options_.ledger_topic) {
        return RD_KAFKA_OFFSET_BEGINNING;  // the whole account table, every time
    }
    const auto state = store_->partition(static_cast<std::uint32_t>(partition.partition));
    const bool known = !options_.fresh_broker || offsets_known_.contains(partition.partition);
    return state.next_offset >= 0 && known ? state.next_offset : RD_KAFKA_OFFSET_BEGINNING;
}

void ProjectionRunner::on_assigned(const std::vector<kafka::TopicPartition>& partitions) {
    assigned_.clear();
    for (const auto& partition : partitions) {
        if (partition.topic == options_.ledger_topic) {
            assigned_.push_back(partition.partition);
        } else {
            accounts_end_[partition.partition] = -1;
        }
    }
    if (!partitions.empty()) {
        spdlog::info("projections: assigned {} partitions of {}, resuming at the stored positions",
                     assigned_.size(), options_.ledger_topic);
    }
    // A stalled partition stays paused until it is healed; every ledger partition waits until
    // usage.accounts has been read to its end (entries are placed with the account versions in
    // force at their event time: the versions must be known first).
    const bool accounts_loaded = metrics_.accounts_loaded.load();
    for (const auto partition : assigned_) {
        if (!accounts_loaded ||
            store_->partition(static_cast<std::uint32_t>(partition)).stalled_at) {
            consumer_->pause({options_.ledger_topic, partition});
        }
    }
    metrics_.assigned_partitions.store(assigned_.size());
}

void ProjectionRunner::resume_ledger_partitions() {
    for (const auto partition : assigned_) {
        const auto pending = pending_.partitions.find(static_cast<std::uint32_t>(partition));
        const bool stalled =
            pending != pending_.partitions.end()
                ? pending->second.stalled_at.has_value()
                : store_->partition(static_cast<std::uint32_t>(partition)).stalled_at.has_value();
        if (!stalled) {
            consumer_->resume({options_.ledger_topic, partition});
        }
    }
}

void ProjectionRunner::add_version(const std::string& tenant, std::int64_t effective_at_us,
                                   const std::optional<Account>& account) {
    std::string warning;
    history_.add(tenant, effective_at_us, account, &warning);
    if (!warning.empty()) {
        spdlog::warn("projections: {}", warning);
    }
}

using kafka::header_of;

void ProjectionRunner::reject_account(const rd_kafka_message_t& message,
                                      std::atomic<std::uint64_t>& counter,
                                      std::string_view why) const {
    counter.fetch_add(1);
    spdlog::error("projections: {} partition {} offset {}: record of tenant '{}' ignored: {}",
                  options_.accounts_topic, message.partition, message.offset,
                  std::string_view(static_cast<const char*>(message.key), message.key_len), why);
}

bool ProjectionRunner::signature_accepted(SignatureCheck check, const rd_kafka_message_t& message,
                                          std::string_view kind) {
    switch (check) {
        case SignatureCheck::ok:
            return true;
        case SignatureCheck::missing:
            reject_account(message, metrics_.accounts_rejected_unsigned,
                           "an unsigned " + std::string(kind) + " (no signature header)");
            return false;
        case SignatureCheck::bad:
            reject_account(message, metrics_.accounts_rejected_bad_signature,
                           "a " + std::string(kind) + " with a bad signature");
            return false;
    }
    return false;
}

std::optional<std::int64_t> ProjectionRunner::account_version(std::string_view tenant_id) const {
    if (const auto found = accounts_.find(tenant_id); found != accounts_.end()) {
        return found->second.updated_at_us;
    }
    if (const auto found = deleted_at_.find(tenant_id); found != deleted_at_.end()) {
        return found->second;
    }
    return std::nullopt;
}

void ProjectionRunner::take_tombstone(const rd_kafka_message_t& message, ProjectionBatch& batch) {
    const std::string key(static_cast<const char*>(message.key), message.key_len);
    const auto deleted_at = header_of(message, kDeletedAtHeader);
    if (!signature_accepted(check_tombstone_signature(options_.control_secret, key, deleted_at,
                                                      header_of(message, kSignatureHeader)),
                            message, "tombstone")) {
        return;
    }
    const auto deleted_at_us = parse_rfc3339(*deleted_at);
    if (!deleted_at_us) {
        metrics_.bad_accounts.fetch_add(1);
        spdlog::error("projections: {} partition {} offset {}: tombstone of '{}': deleted-at: {}",
                      options_.accounts_topic, message.partition, message.offset, key,
                      deleted_at_us.error());
        return;
    }
    std::unique_lock lock(accounts_mutex_);
    const auto held = account_version(key);
    if (account_record_is_stale(*deleted_at_us, held)) {
        if (!accounts_.contains(key) && *held == *deleted_at_us) {
            return;  // this very tombstone, read again
        }
        metrics_.accounts_rejected_stale.fetch_add(1);
        spdlog::log(metrics_.accounts_loaded.load() ? spdlog::level::warn : spdlog::level::debug,
                    "projections: {} partition {} offset {}: tombstone of '{}' not newer than the "
                    "account held; ignored",
                    options_.accounts_topic, message.partition, message.offset, key);
        return;
    }
    if (const auto found = accounts_.find(key); found != accounts_.end()) {
        for (const ActiveKey& held : active_keys(found->second)) {
            tenant_by_key_hash_.erase(std::string(held.sha256));
        }
        accounts_.erase(found);
    }
    deleted_at_[key] = *deleted_at_us;
    add_version(key, *deleted_at_us, std::nullopt);
    accounts_version_.fetch_add(1);
    lock.unlock();
    batch.accounts.push_back({key, std::string(), *deleted_at_us, *deleted_at_us, *deleted_at_us});
    spdlog::info("projections: account {} deleted", key);
}

void ProjectionRunner::take_account(const rd_kafka_message_t& message, ProjectionBatch& batch) {
    if (message.payload == nullptr) {  // a tombstone: the account is deleted
        take_tombstone(message, batch);
        return;
    }
    const std::string_view key(static_cast<const char*>(message.key), message.key_len);
    const std::string_view value(static_cast<const char*>(message.payload), message.len);
    if (!signature_accepted(check_account_signature(options_.control_secret, key, value,
                                                    header_of(message, kSignatureHeader)),
                            message, "record")) {
        return;
    }
    auto account = parse_account(value);
    if (account && account->tenant_id != key) {
        account = unexpected("key '" + std::string(key) + "' is not its tenant_id");
    }
    if (!account) {
        metrics_.bad_accounts.fetch_add(1);
        spdlog::error("projections: {} partition {} offset {}: not an account: {}",
                      options_.accounts_topic, message.partition, message.offset, account.error());
        return;
    }
    {
        std::unique_lock lock(accounts_mutex_);
        const auto found = accounts_.find(account->tenant_id);
        if (found != accounts_.end() && account_json(found->second) == account_json(*account)) {
            return;  // re-read at start: nothing new
        }
        if (account_record_is_stale(account->updated_at_us, account_version(key))) {
            metrics_.accounts_rejected_stale.fetch_add(1);
            spdlog::log(
                metrics_.accounts_loaded.load() ? spdlog::level::warn : spdlog::level::debug,
                "projections: {} partition {} offset {}: account of '{}' not newer than the one "
                "held; ignored",
                options_.accounts_topic, message.partition, message.offset, key);
            return;
        }
        const std::vector<ActiveKey> keys = active_keys(*account);
        for (const ActiveKey& held : keys) {
            const auto holder = tenant_by_key_hash_.find(held.sha256);
            if (holder != tenant_by_key_hash_.end() && holder->second != account->tenant_id) {
                lock.unlock();
                return reject_account(message, metrics_.accounts_rejected_key_collision,
                                      "its key '" + std::string(held.id) +
                                          "' is a key of tenant '" + holder->second +
                                          "' (a key belongs to one tenant)");
            }
        }
        if (found != accounts_.end()) {
            for (const ActiveKey& held : active_keys(found->second)) {
                tenant_by_key_hash_.erase(std::string(held.sha256));
            }
        }
        for (const ActiveKey& held : keys) {
            tenant_by_key_hash_[std::string(held.sha256)] = account->tenant_id;
        }
        deleted_at_.erase(account->tenant_id);
        add_version(account->tenant_id, account->effective_from(), *account);
        accounts_[account->tenant_id] = *account;
        accounts_version_.fetch_add(1);
    }
    batch.accounts.push_back({account->tenant_id, std::string(value), 0, account->effective_from(),
                              account->updated_at_us});
    spdlog::info(
        "projections: account {}: plan {}, billing anchor day {}, time zone {}, {} "
        "active API key(s)",
        account->tenant_id, account->plan, account->billing_anchor_day,
        account->time_zone.empty() ? "UTC" : account->time_zone, active_keys(*account).size());
}

bool ProjectionRunner::apply_entry(std::string_view encoded, std::uint32_t partition,
                                   ProjectionBatch& batch, ProjectionPartition& state) {
    auto applied = applier_.apply(encoded, partition, state, batch);
    if (!applied) {
        spdlog::error("projections: {}", applied.error());
        return false;
    }
    return true;
}

void ProjectionRunner::take_entry(const rd_kafka_message_t& message, ProjectionBatch& batch) {
    const auto partition = static_cast<std::uint32_t>(message.partition);
    offsets_known_.insert(message.partition);
    auto [slot, inserted] = batch.partitions.try_emplace(partition);
    if (inserted) {
        slot->second = store_->partition(partition);
    }
    ProjectionPartition& state = slot->second;
    if (state.stalled_at) {
        return;  // paused; a message already fetched before the pause
    }
    if (header_of(message, "ledger-marker")) {
        // The ledger's progress marker (its changelog, for scale-out): no entry.
        state.next_offset = message.offset + 1;
        return;
    }
    const std::string_view encoded(static_cast<const char*>(message.payload), message.len);
    auto decoded = decode_ledger_entry_header(encoded, /*read_prev_hash=*/false);
    if (!decoded || decoded->header.partition != partition) {
        spdlog::error(
            "projections: {} partition {} offset {}: not a ledger entry of this "
            "partition; stopping the partition",
            options_.ledger_topic, partition, message.offset);
        state.stalled_at = state.next_sequence;
        return;
    }
    switch (classify_sequence(state.next_sequence, decoded->header.sequence)) {
        case SequenceVerdict::repeat:
            ++batch.repeats;
            state.next_offset = message.offset + 1;
            return;
        case SequenceVerdict::jump:
            state.stalled_at = decoded->header.sequence;
            spdlog::error(
                "projections: GAP in {} partition {}: expected ledger sequence {}, got {} ({} "
                "entries missing); the partition stops here and is not skipped{}",
                options_.ledger_topic, partition, state.next_sequence, decoded->header.sequence,
                decoded->header.sequence - state.next_sequence,
                options_.heal_from_ledger ? "; reading them from the ledger store"
                                          : "; run `usage-ledger project --heal-from-ledger` "
                                            "on the ledger's --data-dir to resume");
            return;
        case SequenceVerdict::apply:
            if (!apply_entry(encoded, partition, batch, state)) {
                state.stalled_at = decoded->header.sequence;
                return;
            }
            state.next_offset = message.offset + 1;
            return;
    }
}

Result<bool, std::string> ProjectionRunner::apply_from_ledger(std::uint32_t partition,
                                                              std::uint64_t to,
                                                              ProjectionBatch& batch) {
    ProjectionPartition& state = batch.partitions[partition];
    bool ok = true;
    auto read = ledger_->read_entries(partition, state.next_sequence, to - state.next_sequence,
                                      [&](std::uint64_t sequence, std::string_view entry) {
                                          if (ok && sequence == state.next_sequence) {
                                              ok = apply_entry(entry, partition, batch, state);
                                          }
                                      });
    if (!read) {
        return unexpected(read.error());
    }
    if (!ok || state.next_sequence != to) {
        return unexpected("the ledger store holds entries " + std::to_string(state.next_sequence) +
                          ".." + std::to_string(to) + " of partition " + std::to_string(partition) +
                          " only partly");
    }
    return true;
}

Result<bool, std::string> ProjectionRunner::heal(std::uint32_t partition, ProjectionBatch& batch) {
    if (!ledger_) {
        return unexpected(std::string("no ledger store to heal from"));
    }
    if (auto caught = ledger_->catch_up(); !caught) {
        return caught;
    }
    ProjectionPartition& state = batch.partitions[partition];
    const std::uint64_t to = *state.stalled_at;
    state.stalled_at.reset();
    if (auto applied = apply_from_ledger(partition, to, batch); !applied) {
        batch.partitions[partition].stalled_at = to;
        return unexpected(applied.error() + "; still stopped");
    }
    spdlog::info("projections: partition {} healed from the ledger store up to sequence {}",
                 partition, to);
    return true;
}

Result<bool, std::string> ProjectionRunner::catch_up_with_ledger() {
    if (auto caught = ledger_->catch_up(); !caught) {
        return caught;
    }
    constexpr std::uint64_t kChunk = 50'000;  // entries per write: bounds the pending deltas
    std::uint64_t behind = 0;
    for (const auto& [partition, committed] : ledger_->partitions()) {
        const std::uint64_t applied = store_->partition(partition).next_sequence;
        behind += committed.next_sequence > applied ? committed.next_sequence - applied : 0;
    }
    if (behind == 0) {
        return true;
    }
    spdlog::info(
        "projections: {} entries committed in the ledger store are not applied yet (a crash "
        "stopped this process before it wrote them); applying them from the ledger store",
        behind);
    const auto started = std::chrono::steady_clock::now();
    auto last_progress = started;
    std::uint64_t done = 0;
    for (const auto& [partition, committed] : ledger_->partitions()) {
        while (true) {
            std::unique_lock lock(view_mutex_);
            auto [slot, inserted] = pending_.partitions.try_emplace(partition);
            if (inserted) {
                slot->second = store_->partition(partition);
            }
            const std::uint64_t from = slot->second.next_sequence;
            if (from >= committed.next_sequence) {
                break;
            }
            const std::uint64_t to = std::min(committed.next_sequence, from + kChunk);
            slot->second.stalled_at.reset();  // what was missing is in the ledger store
            if (!pending_since_) {
                pending_since_ = std::chrono::steady_clock::now();
            }
            auto applied = apply_from_ledger(partition, to, pending_);
            if (!applied) {
                // An entry that cannot be applied stops its partition, as it does live.
                ProjectionPartition& state = pending_.partitions[partition];
                state.stalled_at = state.next_sequence;
                spdlog::error(
                    "projections: catching up partition {} from the ledger store: {}; "
                    "the partition stops at sequence {}",
                    partition, applied.error(), state.next_sequence);
            }
            done += pending_.partitions[partition].next_sequence - from;
            lock.unlock();
            if (auto flushed = flush(); !flushed) {
                return flushed;
            }
            if (!applied) {
                break;
            }
            if (const auto now = std::chrono::steady_clock::now();
                now - last_progress >= std::chrono::seconds(2)) {
                last_progress = now;
                spdlog::info("projections: catching up from the ledger store: {} of {} entries",
                             done, behind);
            }
        }
    }
    publish_metrics();
    spdlog::info("projections: caught up with the ledger store: {} entries applied in {:.1f} s",
                 done,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return true;
}

Result<bool, std::string> ProjectionRunner::handle_offset_error(const rd_kafka_message_t& message) {
    if (auto flushed = flush(); !flushed) {
        return flushed;
    }
    const kafka::TopicPartition partition{rd_kafka_topic_name(message.rkt), message.partition};
    auto bounds = consumer_->log_bounds(partition);
    if (!bounds) {
        return unexpected(bounds.error());
    }
    const auto [low, high] = *bounds;
    spdlog::warn(
        "projections: {} partition {}: stored offset no longer in Kafka (log {}..{}); "
        "reading from {} — the ledger sequences show whether entries were lost",
        partition.topic, partition.partition, low, high, low);
    if (partition.topic != options_.ledger_topic) {
        return consumer_->reassign();  // accounts are read from their start anyway
    }
    return consumer_->reassign(std::make_pair(partition, low));
}

void ProjectionRunner::publish_metrics() {
    metrics_.applied.store(store_->applied_total() + pending_.applied);
    metrics_.repeats.store(store_->repeats_total() + pending_.repeats);
    // Partition states as applied: the stored ones, overridden by those of the pending deltas.
    auto current = store_->partitions();
    for (const auto& [partition, state] : pending_.partitions) {
        current[partition] = state;
    }
    std::uint64_t stalled = 0;
    {
        std::unique_lock lock(positions_mutex_);
        for (const auto& [partition, state] : current) {
            positions_[partition] = state.next_sequence;
            stalled += state.stalled_at ? 1 : 0;
        }
    }
    metrics_.stalled_partitions.store(stalled);
    publish_ledger_lag(current);
    {
        std::shared_lock lock(accounts_mutex_);
        metrics_.accounts.store(accounts_.size());
    }
    std::int64_t lag = 0;
    for (const auto partition : assigned_) {
        const auto bounds = consumer_->cached_log_bounds({options_.ledger_topic, partition});
        if (!bounds) {
            return;  // not known yet
        }
        const auto [low, high] = *bounds;
        const auto found = current.find(static_cast<std::uint32_t>(partition));
        const bool known = !options_.fresh_broker || offsets_known_.contains(partition);
        const std::int64_t next = found == current.end() || !known ? -1 : found->second.next_offset;
        lag += std::max<std::int64_t>(0, high - std::max(next, low));
    }
    metrics_.lag.store(lag);
}

void ProjectionRunner::publish_ledger_lag(
    const std::map<std::uint32_t, ProjectionPartition>& current) {
    if (!ledger_) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - ledger_checked_ < std::chrono::seconds(1) && metrics_.ledger_lag.load() >= 0) {
        return;
    }
    ledger_checked_ = now;
    if (auto caught = ledger_->catch_up(); !caught) {
        spdlog::warn("projections: {}", caught.error());
        return;
    }
    std::int64_t lag = 0;
    for (const auto& [partition, committed] : ledger_->partitions()) {
        const auto found = current.find(partition);
        const std::uint64_t applied = found == current.end() ? 0 : found->second.next_sequence;
        if (committed.next_sequence > applied) {
            lag += static_cast<std::int64_t>(committed.next_sequence - applied);
        }
    }
    metrics_.ledger_lag.store(lag);
}

Result<bool, std::string> ProjectionRunner::flush() {
    if (pending_.empty()) {
        pending_since_.reset();
        return true;
    }
    {
        std::unique_lock lock(view_mutex_);
        std::swap(pending_, flushing_);  // flushing_ was cleared after the last write
        flush_base_ = store_->latest_sequence();
        flushing_active_ = true;
    }
    pending_since_.reset();
    std::this_thread::sleep_for(options_.test_write_pause);
    const auto start = std::chrono::steady_clock::now();
    auto applied = store_->apply(flushing_);  // the only writer: sequences after flush_base_
    const auto written = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(options_.test_write_pause);
    {
        std::unique_lock lock(view_mutex_);
        flushing_active_ = false;
        if (!applied) {
            std::swap(pending_, flushing_);  // not written: still pending, still read
        }
    }
    if (!applied) {
        return applied;
    }
    metrics_.apply_latency_us.observe(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(written - start).count()));
    metrics_.batch_size.observe(flushing_.applied + flushing_.repeats);
    flushing_.clear();
    return true;
}

ProjectionRunner::ReadView ProjectionRunner::read_view() const {
    ReadView view{std::shared_lock(view_mutex_), store_->snapshot(), {}};
    if (flushing_active_ && ProjectionStore::sequence_of(view.snapshot) <= flush_base_) {
        view.deltas.push_back(flushing_.deltas.get());
    }
    if (!pending_.deltas->empty()) {
        view.deltas.push_back(pending_.deltas.get());
    }
    return view;
}

void ProjectionRunner::log_status(double seconds, std::uint64_t applied) const {
    spdlog::info(
        "projections: {} entries applied ({:.0f}/s over the last {:.0f} s), {} repeats "
        "skipped, lag {}, {} partitions stopped at a gap, {} accounts",
        metrics_.applied.load(), static_cast<double>(applied) / seconds, seconds,
        metrics_.repeats.load(), metrics_.lag.load(), metrics_.stalled_partitions.load(),
        metrics_.accounts.load());
}

Result<bool, std::string> ProjectionRunner::run() {
    auto result = consume();
    fail_tasks();
    return result;
}

Result<bool, std::string> ProjectionRunner::consume() {
    if (auto joined = consumer_->join(); !joined) {
        return joined;
    }
    std::vector<kafka::Message> messages;
    auto last_status = std::chrono::steady_clock::now();
    publish_metrics();
    std::uint64_t applied_at_status = metrics_.applied.load();
    while (!stop_.load()) {
        run_tasks();
        if (const auto now = std::chrono::steady_clock::now();
            now - last_status >= options_.status_interval) {
            log_status(std::chrono::duration<double>(now - last_status).count(),
                       metrics_.applied.load() - applied_at_status);
            last_status = now;
            applied_at_status = metrics_.applied.load();
        }
        messages.clear();
        const bool writable = disk_guard_.writable();
        metrics_.disk_paused.store(writable ? 0 : 1);
        if (!writable) {
            // Nothing polled, nothing written while the disk is short of space; the deltas in
            // memory are still read, and the store's positions say where to resume.
            publish_metrics();
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        int timeout_ms = 100;
        while (messages.size() < options_.max_batch) {
            kafka::Message message = consumer_->poll(timeout_ms);
            if (failed_) {
                return unexpected(*failed_);
            }
            if (!message) {
                break;
            }
            timeout_ms = 0;
            const bool accounts = message->rkt != nullptr &&
                                  options_.accounts_topic == rd_kafka_topic_name(message->rkt);
            if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (accounts) {
                    accounts_end_[message->partition] = message->offset;
                    if (!metrics_.accounts_loaded.load() &&
                        std::all_of(accounts_end_.begin(), accounts_end_.end(),
                                    [](const auto& entry) { return entry.second >= 0; })) {
                        metrics_.accounts_loaded.store(true);
                        spdlog::info("projections: {} read to its end; applying {}",
                                     options_.accounts_topic, options_.ledger_topic);
                        // Entries committed before this start and not applied yet (also
                        // partitions stopped at a gap by an earlier run) come from the ledger
                        // store first, when it is here — with the account versions just read,
                        // as replay places them (not the ones an earlier run left in the store).
                        if (ledger_ && !metrics_.caught_up.load()) {
                            if (auto caught = catch_up_with_ledger(); !caught) {
                                return caught;
                            }
                            metrics_.caught_up.store(true);
                        }
                        resume_ledger_partitions();
                    }
                }
                continue;
            }
            if (kafka::PositionedConsumer::is_offset_error(*message)) {
                auto handled = handle_offset_error(*message);
                if (!handled) {
                    return handled;
                }
                continue;
            }
            if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                spdlog::warn("projections: consumer: {}", rd_kafka_message_errstr(message.get()));
                continue;
            }
            if (!pending_since_) {
                pending_since_ = std::chrono::steady_clock::now();
            }
            std::unique_lock lock(view_mutex_);
            if (accounts) {
                take_account(*message, pending_);
            } else {
                const auto partition = static_cast<std::uint32_t>(message->partition);
                const auto before = pending_.partitions.find(partition);
                const bool was_stalled =
                    before != pending_.partitions.end() && before->second.stalled_at;
                take_entry(*message, pending_);
                if (!was_stalled && pending_.partitions[partition].stalled_at) {
                    if (options_.heal_from_ledger) {
                        if (auto healed = heal(partition, pending_); !healed) {
                            spdlog::error("projections: {}", healed.error());
                        } else {
                            take_entry(*message, pending_);  // the entry after the gap
                        }
                    }
                    if (pending_.partitions[partition].stalled_at) {
                        consumer_->pause({options_.ledger_topic, message->partition});
                    }
                }
            }
            lock.unlock();
            messages.push_back(std::move(message));
        }
        // Write when idle (nothing came within the poll's wait), when due, and before stopping.
        if (pending_since_ &&
            (messages.empty() || stop_.load() ||
             options_.flush.due(pending_, std::chrono::steady_clock::now() - *pending_since_))) {
            if (auto flushed = flush(); !flushed) {
                return flushed;
            }
        }
        publish_metrics();
    }
    if (auto flushed = flush(); !flushed) {
        return flushed;
    }
    publish_metrics();
    spdlog::info("projections: stopping; {} entries applied so far", store_->applied_total());
    return true;
}

std::optional<Account> ProjectionRunner::account(std::string_view tenant_id) const {
    std::shared_lock lock(accounts_mutex_);
    const auto found = accounts_.find(tenant_id);
    return found == accounts_.end() ? std::nullopt : std::optional<Account>(found->second);
}

std::vector<Account> ProjectionRunner::accounts() const {
    std::shared_lock lock(accounts_mutex_);
    std::vector<Account> out;
    out.reserve(accounts_.size());
    for (const auto& [tenant, account] : accounts_) {
        out.push_back(account);
    }
    return out;
}

std::map<std::uint32_t, std::uint64_t> ProjectionRunner::positions() const {
    std::shared_lock lock(positions_mutex_);
    return positions_;
}

Result<bool, std::string> ProjectionRunner::run_on_consumer_thread(
    std::function<Result<bool, std::string>()> work) {
    auto task = std::make_unique<Task>();
    task->work = std::move(work);
    auto done = task->done.get_future();
    {
        std::lock_guard lock(tasks_mutex_);
        if (tasks_closed_) {
            return unexpected(std::string("the projection stopped"));
        }
        tasks_.push_back(std::move(task));
    }
    return done.get();
}

void ProjectionRunner::run_tasks() {
    std::vector<std::unique_ptr<Task>> tasks;
    {
        std::lock_guard lock(tasks_mutex_);
        tasks.swap(tasks_);
    }
    for (auto& task : tasks) {
        task->done.set_value(task->work());
    }
}

void ProjectionRunner::fail_tasks() {
    std::vector<std::unique_ptr<Task>> tasks;
    {
        std::lock_guard lock(tasks_mutex_);
        tasks_closed_ = true;
        tasks.swap(tasks_);
    }
    for (auto& task : tasks) {
        task->done.set_value(unexpected(std::string("the projection stopped")));
    }
}

BillingCalendar ProjectionRunner::calendar_at(std::string_view tenant, std::int64_t time_us) const {
    std::shared_lock lock(accounts_mutex_);
    return history_.at(tenant, time_us).calendar;
}

AccountHistory ProjectionRunner::account_history() const {
    std::shared_lock lock(accounts_mutex_);
    return history_;
}

}  // namespace ul
