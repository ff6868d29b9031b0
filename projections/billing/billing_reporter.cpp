#include "projections/billing/billing_reporter.h"

#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <sstream>

#include "projections/counters/projection_service.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

constexpr std::size_t kDefault = 0;
constexpr std::size_t kTotals = 1;
constexpr std::size_t kReports = 2;
constexpr std::size_t kPending = 3;
constexpr std::string_view kNextSeq = "next_seq";

std::int64_t system_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void append_u64(std::string& out, std::uint64_t value) {
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((value >> static_cast<unsigned>(shift)) & 0xFFU));
    }
}

std::uint64_t read_u64(const char* in) {
    std::uint64_t value = 0;
    for (int index = 0; index < 8; ++index) {
        value = (value << 8U) | static_cast<unsigned char>(in[index]);
    }
    return value;
}

std::string seq_key(std::uint64_t seq) {
    std::string key;
    append_u64(key, seq);
    return key;
}

std::string report_key(std::string_view tenant, std::uint64_t seq) {
    std::string key(tenant);
    key.push_back('\0');
    append_u64(key, ~seq);  // newest first
    return key;
}

std::string encode_totals(const BillingTotals& totals) {
    std::string out;
    append_u64(out, static_cast<std::uint64_t>(totals.decided));
    append_u64(out, totals.reports);
    append_u64(out, static_cast<std::uint64_t>(totals.sent));
    append_u64(out, static_cast<std::uint64_t>(totals.unreportable));
    append_u64(out, static_cast<std::uint64_t>(totals.failed));
    return out;
}

std::optional<BillingTotals> decode_totals(std::string_view bytes) {
    if (bytes.size() != 40) {
        return std::nullopt;
    }
    BillingTotals totals;
    totals.decided = static_cast<std::int64_t>(read_u64(bytes.data()));
    totals.reports = read_u64(bytes.data() + 8);
    totals.sent = static_cast<std::int64_t>(read_u64(bytes.data() + 16));
    totals.unreportable = static_cast<std::int64_t>(read_u64(bytes.data() + 24));
    totals.failed = static_cast<std::int64_t>(read_u64(bytes.data() + 32));
    return totals;
}

// Lines: every field but the last error, then the last error (it may hold newlines: Stripe's
// body). Ids, meters and customer ids hold no newline (schemas validate them).
std::string encode_report(const BillingReport& report) {
    std::ostringstream out;
    out << report.seq << '\n'
        << report.id << '\n'
        << report.tenant_id << '\n'
        << report.meter << '\n'
        << report.customer << '\n'
        << report.event_name << '\n'
        << hex_encode(report.cell) << '\n'
        << report.period.start_us << '\n'
        << report.period.end_us << '\n'
        << report.number << '\n'
        << report.value << '\n'
        << report.identifier << '\n'
        << report.idempotency_key << '\n'
        << report.timestamp_s << '\n'
        << report.status << '\n'
        << report.attempts << '\n'
        << report.created_at_us << '\n'
        << report.sent_at_us << '\n'
        << report.next_at_us << '\n'
        << report.last_error;
    return out.str();
}

std::optional<BillingReport> decode_report(std::string_view bytes) {
    std::istringstream in{std::string(bytes)};
    BillingReport report;
    std::string cell;
    auto number = [&](auto& into) {
        std::string line;
        std::getline(in, line);
        const auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), into);
        return error == std::errc() && end == line.data() + line.size();
    };
    const bool ok =
        number(report.seq) && std::getline(in, report.id) && std::getline(in, report.tenant_id) &&
        std::getline(in, report.meter) && std::getline(in, report.customer) &&
        std::getline(in, report.event_name) && std::getline(in, cell) &&
        number(report.period.start_us) && number(report.period.end_us) && number(report.number) &&
        number(report.value) && std::getline(in, report.identifier) &&
        std::getline(in, report.idempotency_key) && number(report.timestamp_s) &&
        std::getline(in, report.status) && number(report.attempts) &&
        number(report.created_at_us) && number(report.sent_at_us) && number(report.next_at_us);
    if (!ok) {
        return std::nullopt;
    }
    std::getline(in, report.last_error, '\0');
    auto raw = hex_decode(cell);
    if (!raw) {
        return std::nullopt;
    }
    report.cell = std::move(*raw);
    return report;
}

std::string time_or_null(std::int64_t time_us) {
    return time_us == 0 ? "null" : "\"" + format_rfc3339(time_us) + "\"";
}

}  // namespace

Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string> scan_totals_of(
    const RocksDb& db, const std::string& prefix);

std::string billing_report_json(const BillingReport& report) {
    std::string out = "{\"id\":";
    append_json_string(out, report.id);
    out += ",\"tenant_id\":";
    append_json_string(out, report.tenant_id);
    out += ",\"meter\":";
    append_json_string(out, report.meter);
    out += ",\"customer\":";
    append_json_string(out, report.customer);
    out += ",\"event_name\":";
    append_json_string(out, report.event_name);
    out += ",\"period_start\":\"" + format_rfc3339(report.period.start_us) + "\"";
    out += ",\"period_end\":\"" + format_rfc3339(report.period.end_us) + "\"";
    out += ",\"report_number\":" + std::to_string(report.number);
    out += ",\"value\":" + std::to_string(report.value);
    out += ",\"identifier\":";
    append_json_string(out, report.identifier);
    out += ",\"idempotency_key\":";
    append_json_string(out, report.idempotency_key);
    out += ",\"timestamp\":\"" + format_rfc3339(report.timestamp_s * 1'000'000) + "\"";
    out += ",\"status\":";
    append_json_string(out, report.status);
    out += ",\"attempts\":" + std::to_string(report.attempts);
    out += ",\"last_error\":";
    if (report.last_error.empty()) {
        out += "null";
    } else {
        append_json_string(out, report.last_error);
    }
    out += ",\"created_at\":" + time_or_null(report.created_at_us);
    out += ",\"sent_at\":" + time_or_null(report.sent_at_us);
    out +=
        ",\"next_attempt_at\":" + time_or_null(report.status == "pending" ? report.next_at_us : 0);
    out += "}";
    return out;
}

BillingReporter::BillingReporter(BillingReporterOptions options, BillingCellSource cells)
    : options_(std::move(options)),
      cells_(std::move(cells)),
      client_(options_.stripe),
      breaker_(options_.breaker_failures, options_.breaker_pause) {
    if (!options_.now_us) {
        options_.now_us = system_now_us;
    }
    random_state_ =
        options_.seed != 0 ? options_.seed : static_cast<std::uint64_t>(system_now_us()) | 1U;
}

BillingReporter::~BillingReporter() {
    {
        std::lock_guard lock(wake_mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) {
        worker_.join();
    }
}

Result<std::unique_ptr<BillingReporter>, std::string> BillingReporter::start(
    BillingReporterOptions options, const ProjectionService& projections) {
    return start(std::move(options), [&projections](const BillingCellVisitor& visit) {
        return projections.for_each_billing_cell(visit);
    });
}

Result<std::unique_ptr<BillingReporter>, std::string> BillingReporter::start(
    BillingReporterOptions options, BillingCellSource cells) {
    std::unique_ptr<BillingReporter> reporter(
        new BillingReporter(std::move(options), std::move(cells)));
    auto db =
        RocksDb::open(base_store_options(StoreMode::read_write, 4U << 20U), reporter->options_.path,
                      families(), StoreMode::read_write, "billing store");
    if (!db) {
        return unexpected(db.error());
    }
    reporter->db_ = std::move(db).value();
    std::string value;
    const auto status = (*reporter->db_)
                            ->Get(rocksdb::ReadOptions(), reporter->db_->family(kDefault),
                                  std::string(kNextSeq), &value);
    if (status.ok() && value.size() == 8) {
        reporter->next_seq_ = read_u64(value.data());
    } else if (!status.IsNotFound()) {
        return unexpected("billing store: " + status_text(status));
    }
    std::int64_t pending = 0;
    std::unique_ptr<rocksdb::Iterator> rows(
        (*reporter->db_)->NewIterator(rocksdb::ReadOptions(), reporter->db_->family(kPending)));
    for (rows->SeekToFirst(); rows->Valid(); rows->Next()) {
        ++pending;
    }
    reporter->metrics_.pending = pending;
    if (reporter->options_.worker) {
        reporter->worker_ = std::thread([self = reporter.get()] { self->work(); });
    }
    return reporter;
}

void BillingReporter::work() {
    std::unique_lock lock(wake_mutex_);
    while (!stop_) {
        lock.unlock();
        if (auto done = run_once(); !done) {
            spdlog::error("billing: {}", done.error());
        }
        lock.lock();
        const auto tick = std::min(options_.tick, options_.interval);
        wake_.wait_for(lock, tick, [&] { return stop_.load(); });
    }
}

Result<bool, std::string> BillingReporter::run_once(bool force_decide) {
    std::lock_guard lock(mutex_);
    const std::int64_t now = now_us();
    const std::int64_t interval_us =
        std::chrono::duration_cast<std::chrono::microseconds>(options_.interval).count();
    if (force_decide || last_decide_us_ == 0 || now - last_decide_us_ >= interval_us) {
        last_decide_us_ = now;
        if (auto decided = decide(now); !decided) {
            ++metrics_.decide_errors;
            return decided;
        }
    }
    return send_due(now);
}

Result<BillingTotals, std::string> BillingReporter::read_totals(std::string_view cell) const {
    std::string value;
    const auto status =
        (*db_)->Get(rocksdb::ReadOptions(), db_->family(kTotals), rocksdb::Slice(cell), &value);
    if (status.IsNotFound()) {
        return BillingTotals{};
    }
    if (!status.ok()) {
        return unexpected("billing store: " + status_text(status));
    }
    auto totals = decode_totals(value);
    if (!totals) {
        return unexpected(std::string("billing store: a damaged totals row"));
    }
    return *totals;
}

Result<bool, std::string> BillingReporter::decide(std::int64_t now) {
    const std::int64_t now_s = now / 1'000'000;
    std::string failure;
    auto visited = cells_([&](std::string_view cell_key, const Cell& cell) {
        auto key = decode_billing_key(cell_key);
        if (!key) {
            failure = key.error();
            return false;
        }
        auto target = stripe_units(cell.sum, key->unit);
        if (!target) {
            spdlog::warn("billing: {}/{}: {}", key->tenant_id, key->meter, target.error());
            return true;  // one bad cell does not stop the others
        }
        auto totals = read_totals(cell_key);
        if (!totals) {
            failure = totals.error();
            return false;
        }
        const ReportDecision decision =
            decide_report(*target, totals->decided, key->period, now_s, options_.grace.count());
        if (decision.kind == ReportDecision::Kind::none) {
            return true;
        }
        BillingReport report;
        report.seq = next_seq_;
        report.tenant_id = key->tenant_id;
        report.meter = key->meter;
        report.customer = key->customer;
        report.event_name = key->event_name;
        report.cell = std::string(cell_key);
        report.period = key->period;
        report.number = totals->reports;
        report.value = decision.value;
        report.identifier = report_identifier(cell_key, report.number);
        report.idempotency_key = report_idempotency_key(cell_key, report.number);
        report.id = "br_" + report.identifier.substr(4);
        report.timestamp_s = decision.timestamp_s;
        report.created_at_us = now;
        report.next_at_us = now;
        const bool unreportable = decision.kind == ReportDecision::Kind::unreportable;
        report.status = unreportable ? "unreportable" : "pending";
        report.last_error = decision.reason;
        BillingTotals after = *totals;
        after.decided += decision.value;
        after.reports += 1;
        if (unreportable) {
            after.unreportable += decision.value;
        }
        const std::string key_bytes = report_key(report.tenant_id, report.seq);
        rocksdb::WriteBatch batch;
        batch.Put(db_->family(kReports), key_bytes, encode_report(report));
        if (!unreportable) {
            batch.Put(db_->family(kPending), seq_key(report.seq), key_bytes);
        }
        batch.Put(db_->family(kTotals), rocksdb::Slice(cell_key), encode_totals(after));
        batch.Put(db_->family(kDefault), std::string(kNextSeq), seq_key(report.seq + 1));
        rocksdb::WriteOptions sync;
        sync.sync = true;
        if (auto status = (*db_)->Write(sync, &batch); !status.ok()) {
            failure = "billing store: " + status_text(status);
            return false;
        }
        ++next_seq_;
        ++metrics_.reports_decided;
        if (unreportable) {
            ++metrics_.reports_unreportable;
            spdlog::warn("billing: {} of {}/{} for the period from {} is unreportable: {}",
                         report.value, report.tenant_id, report.meter,
                         format_rfc3339(report.period.start_us), report.last_error);
        } else {
            ++metrics_.pending;
        }
        return true;
    });
    if (!visited) {
        return unexpected(visited.error());
    }
    if (!failure.empty()) {
        return unexpected(failure);
    }
    return true;
}

Result<bool, std::string> BillingReporter::send_due(std::int64_t now) {
    std::vector<std::pair<std::string, std::string>> due;  // pending key, report key
    {
        std::unique_ptr<rocksdb::Iterator> rows(
            (*db_)->NewIterator(rocksdb::ReadOptions(), db_->family(kPending)));
        for (rows->SeekToFirst(); rows->Valid(); rows->Next()) {
            due.emplace_back(rows->key().ToString(), rows->value().ToString());
        }
        if (!rows->status().ok()) {
            return unexpected("billing store: " + status_text(rows->status()));
        }
    }
    for (const auto& [pending_key, key] : due) {
        if (stop_) {
            break;
        }
        std::string bytes;
        const auto status = (*db_)->Get(rocksdb::ReadOptions(), db_->family(kReports), key, &bytes);
        if (!status.ok()) {
            return unexpected("billing store: " + status_text(status));
        }
        auto report = decode_report(bytes);
        if (!report) {
            return unexpected(std::string("billing store: a damaged report row"));
        }
        if (report->next_at_us > now) {
            continue;
        }
        bool allowed = false;
        {
            std::lock_guard lock(breaker_mutex_);
            allowed = breaker_.allow(now);
        }
        if (!allowed) {
            break;  // open: nothing goes until the pause is over
        }
        if (auto sent = send(*report, key, now); !sent) {
            return sent;
        }
    }
    return true;
}

Result<bool, std::string> BillingReporter::send(BillingReport& report, const std::string& key,
                                                std::int64_t now) {
    auto totals = read_totals(report.cell);
    if (!totals) {
        return unexpected(totals.error());
    }
    const std::int64_t now_s = now / 1'000'000;
    if (!inside_stripe_window(report.timestamp_s, now_s)) {
        report.status = "unreportable";
        report.last_error = "its timestamp left Stripe's 35-day window before it could be sent";
        totals->unreportable += report.value;
        ++metrics_.reports_unreportable;
        spdlog::warn("billing: report {} ({}/{}) is unreportable: {}", report.id, report.tenant_id,
                     report.meter, report.last_error);
        return write_outcome(report, key, &*totals, true);
    }
    report.attempts += 1;
    const StripeResponse response =
        client_.create_meter_event(report.event_name, report.customer, report.value,
                                   report.identifier, report.timestamp_s, report.idempotency_key);
    switch (response.verdict) {
        case StripeVerdict::ok: {
            std::lock_guard lock(breaker_mutex_);
            breaker_.record_success();
        }
            report.status = "sent";
            report.sent_at_us = now;
            report.last_error.clear();
            totals->sent += report.value;
            ++metrics_.reports_sent;
            metrics_.units_sent += static_cast<std::uint64_t>(report.value);
            return write_outcome(report, key, &*totals, true);
        case StripeVerdict::permanent:
            report.status = "failed";
            report.last_error = response.describe() + (response.body.empty() ? "" : ": ") +
                                response.body.substr(0, 2048);
            totals->failed += report.value;
            ++metrics_.reports_failed;
            spdlog::error("billing: report {} ({}/{}) failed for good: {}", report.id,
                          report.tenant_id, report.meter, response.describe());
            return write_outcome(report, key, &*totals, true);
        case StripeVerdict::retry:
            break;
    }
    bool opened = false;
    std::int64_t open_until_us = 0;
    {
        std::lock_guard lock(breaker_mutex_);
        const bool was_open = breaker_.state(now) != BreakerState::closed;
        breaker_.record_failure(now);
        opened = !was_open && breaker_.state(now) == BreakerState::open;
        open_until_us = breaker_.opened_until_us();
    }
    if (opened) {
        ++metrics_.breaker_opened;
        spdlog::warn("billing: Stripe failed {} times in a row; reporting pauses until {}",
                     options_.breaker_failures, format_rfc3339(open_until_us));
    }
    random_state_ ^= random_state_ << 13U;
    random_state_ ^= random_state_ >> 7U;
    random_state_ ^= random_state_ << 17U;
    const auto delay = stripe_backoff_delay(options_.backoff, report.attempts - 1,
                                            response.retry_after_seconds, random_state_);
    report.next_at_us = now + std::chrono::duration_cast<std::chrono::microseconds>(delay).count();
    report.last_error = response.describe();
    ++metrics_.attempts_retried;
    return write_outcome(report, key, nullptr, false);
}

Result<bool, std::string> BillingReporter::write_outcome(const BillingReport& report,
                                                         const std::string& key,
                                                         const BillingTotals* totals, bool done) {
    rocksdb::WriteBatch batch;
    batch.Put(db_->family(kReports), key, encode_report(report));
    if (totals != nullptr) {
        batch.Put(db_->family(kTotals), rocksdb::Slice(report.cell), encode_totals(*totals));
    }
    if (done) {
        batch.Delete(db_->family(kPending), seq_key(report.seq));
    }
    rocksdb::WriteOptions sync;
    sync.sync = true;
    if (auto status = (*db_)->Write(sync, &batch); !status.ok()) {
        return unexpected("billing store: " + status_text(status));
    }
    if (done) {
        --metrics_.pending;
    }
    return true;
}

Result<BillingReporter::Page, std::string> BillingReporter::reports(std::string_view tenant,
                                                                    std::string_view after,
                                                                    std::size_t limit) const {
    Page page;
    const std::string prefix = report_key(tenant, 0).substr(0, tenant.size() + 1);
    std::unique_ptr<rocksdb::Iterator> rows(
        (*db_)->NewIterator(rocksdb::ReadOptions(), db_->family(kReports)));
    if (after.empty()) {
        rows->Seek(prefix);
    } else {
        std::string from(after);
        from.push_back('\0');
        rows->Seek(from);
    }
    for (; rows->Valid() && rows->key().starts_with(prefix); rows->Next()) {
        if (page.reports.size() == limit) {
            page.next = page.reports.empty() ? "" : report_key(tenant, page.reports.back().seq);
            break;
        }
        auto report = decode_report(rows->value().ToStringView());
        if (!report) {
            return unexpected(std::string("billing store: a damaged report row"));
        }
        page.reports.push_back(std::move(*report));
    }
    if (!rows->status().ok()) {
        return unexpected("billing store: " + status_text(rows->status()));
    }
    return page;
}

Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string> BillingReporter::totals(
    std::string_view tenant) const {
    return scan_totals(billing_prefix(tenant));
}

Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string>
BillingReporter::all_totals() const {
    return scan_totals("");
}

std::vector<rocksdb::ColumnFamilyDescriptor> BillingReporter::families() {
    return {{rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
            {"totals", rocksdb::ColumnFamilyOptions()},
            {"reports", rocksdb::ColumnFamilyOptions()},
            {"pending", rocksdb::ColumnFamilyOptions()}};
}

Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string>
BillingReporter::read_store_totals(const std::string& path) {
    auto db = RocksDb::open(base_store_options(StoreMode::secondary, 4U << 20U), path, families(),
                            StoreMode::secondary, "billing store");
    if (!db) {
        return unexpected(db.error());
    }
    return scan_totals_of(**db, "");
}

Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string>
BillingReporter::scan_totals(const std::string& prefix) const {
    return scan_totals_of(*db_, prefix);
}

Result<std::vector<std::pair<BillingCellKey, BillingTotals>>, std::string> scan_totals_of(
    const RocksDb& db, const std::string& prefix) {
    std::vector<std::pair<BillingCellKey, BillingTotals>> out;
    std::unique_ptr<rocksdb::Iterator> rows(
        db->NewIterator(rocksdb::ReadOptions(), db.family(kTotals)));
    for (rows->Seek(prefix); rows->Valid() && rows->key().starts_with(prefix); rows->Next()) {
        auto key = decode_billing_key(rows->key().ToStringView());
        auto totals = decode_totals(rows->value().ToStringView());
        if (!key || !totals) {
            return unexpected(std::string("billing store: a damaged totals row"));
        }
        out.emplace_back(std::move(*key), *totals);
    }
    if (!rows->status().ok()) {
        return unexpected("billing store: " + status_text(rows->status()));
    }
    return out;
}

BillingReporter::BreakerView BillingReporter::breaker() const {
    const std::int64_t now = now_us();
    std::lock_guard lock(breaker_mutex_);
    return {breaker_.state(now), breaker_.consecutive_failures(), breaker_.opened_until_us()};
}

std::string BillingReporter::breaker_json() const {
    const BreakerView view = breaker();
    std::string out = "{\"state\":\"" + std::string(to_string(view.state)) + "\"";
    out += ",\"consecutive_failures\":" + std::to_string(view.consecutive_failures);
    out += ",\"failures_to_open\":" + std::to_string(options_.breaker_failures);
    out += ",\"pause_seconds\":" + std::to_string(options_.breaker_pause.count());
    out += ",\"open_until\":" +
           time_or_null(view.state == BreakerState::closed ? 0 : view.open_until_us) + "}";
    return out;
}

void BillingReporter::append_metrics(std::string& out) const {
    auto line = [&](const char* name, const char* help, const char* type, auto value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        out += std::string(name) + " " + std::to_string(value) + "\n";
    };
    line("billing_reports_decided_total", "Stripe reports decided (written before sending).",
         "counter", metrics_.reports_decided.load());
    line("billing_reports_sent_total", "Stripe meter events Stripe accepted.", "counter",
         metrics_.reports_sent.load());
    line("billing_units_sent_total", "Whole Stripe units Stripe accepted.", "counter",
         metrics_.units_sent.load());
    line("billing_reports_unreportable_total",
         "Reports outside Stripe's 35-day window (never sent).", "counter",
         metrics_.reports_unreportable.load());
    line("billing_reports_failed_total", "Reports Stripe refused for good (4xx).", "counter",
         metrics_.reports_failed.load());
    line("billing_attempts_retried_total", "Attempts that failed and will be retried.", "counter",
         metrics_.attempts_retried.load());
    line("billing_reports_pending", "Reports decided and not yet accepted by Stripe.", "gauge",
         metrics_.pending.load());
    line("billing_breaker_opened_total", "Times the Stripe circuit breaker opened.", "counter",
         metrics_.breaker_opened.load());
    const BreakerView view = breaker();
    line("billing_breaker_open", "1 while the Stripe circuit breaker is open or half-open.",
         "gauge", view.state == BreakerState::closed ? 0 : 1);
    line("billing_breaker_consecutive_failures", "Consecutive failed Stripe attempts.", "gauge",
         view.consecutive_failures);
}

}  // namespace ul
