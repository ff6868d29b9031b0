#include "projections/api/ingest.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <vector>

#include <xxhash.h>

#include "projections/api/ingest_body.h"
#include "schemas/canonical.h"
#include "schemas/lease.h"
#include "schemas/time.h"
#include "schemas/wallet.h"

namespace ul {

namespace {

enum class Status : std::uint8_t { invalid, queued, failed, committed, timed_out };

struct EventState {
    std::string_view text;
    Status status = Status::invalid;
    std::string error;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    CommitVerdict verdict;
};

}  // namespace

struct Ingest::Request {
    HttpReply reply;
    bool wait_committed = false;
    // POST …/consume: one event, answered as a check-and-consume (consume_response).
    bool consume = false;
    // POST / DELETE …/leases: one lease operation (lease_response).
    enum class LeaseCall : std::uint8_t { none, acquire, release, grant };
    LeaseCall lease = LeaseCall::none;
    std::string lease_id;
    std::string slots;
    std::string meter;
    std::string plan;
    std::string idempotency_key;
    std::int64_t now_us = 0;
    std::string body;
    std::vector<EventState> events;
    std::mutex mutex;
    std::size_t outstanding = 0;
    bool replied = false;
    std::chrono::steady_clock::time_point deadline;

    // Every event invalid (nothing sent): 400 with each event's error.
    HttpResponse all_invalid() const {
        HttpResponse out =
            json_error(400, "invalid_events",
                       events.size() == 1 ? "the event is invalid; nothing was sent"
                                          : "every event is invalid; nothing was sent");
        out.body.pop_back();  // the closing '}'
        out.body += ",\"events\":[";
        for (std::size_t index = 0; index < events.size(); ++index) {
            out.body += index == 0 ? "{\"index\":" : ",{\"index\":";
            out.body += std::to_string(index) + ",\"status\":\"invalid\",\"error\":";
            append_json_string(out.body, events[index].error);
            out.body += "}";
        }
        out.body += "]}";
        return out;
    }

    // The answer of a one-event request (consume, leases, grants) the ledger has not decided:
    // refused before sending (400 `invalid_code`), not sent or the ledger stopped (503), no
    // verdict in time (504, `timeout_detail`); nullopt once a verdict is in.
    std::optional<HttpResponse> undecided(bool timed_out, bool ledger_down,
                                          std::string_view invalid_code,
                                          std::string_view timeout_detail) const {
        const EventState& event = events.front();
        if (event.status == Status::invalid) {
            return json_error(400, invalid_code, event.error);
        }
        if (event.status == Status::failed || ledger_down) {
            return json_error(503, "ledger_unavailable",
                              ledger_down ? "the ledger stopped before deciding; retry with the "
                                            "same idempotency_key"
                                          : "not sent: " + event.error);
        }
        if (timed_out || event.status != Status::committed) {
            return json_error(504, "not_committed", timeout_detail);
        }
        return std::nullopt;
    }

    // POST …/consume's answer (one event), with the mutex held.
    HttpResponse consume_response(bool timed_out, bool ledger_down) const {
        const EventState& event = events.front();
        if (auto answer = undecided(timed_out, ledger_down, "invalid_event",
                                    "the ledger did not decide in time; retry with the same "
                                    "idempotency_key (it is counted once)")) {
            return std::move(*answer);
        }
        const CommitVerdict& verdict = event.verdict;
        HttpResponse out;
        std::string fields = ",\"idempotency_key\":";
        append_json_string(fields, idempotency_key);
        fields += ",\"meter\":";
        append_json_string(fields, meter);
        switch (verdict.verdict) {
            case Verdict::invalid:
                return json_error(400, "invalid_event", reason_code(verdict.reason));
            case Verdict::rejected_limit: {
                out.status = 429;
                if (verdict.credits) {  // a hard meter paid in credits: the wallet cannot cover it
                    out.body = "{\"error\":\"insufficient_credits\"" + fields + ",\"plan\":";
                    append_json_string(out.body, plan);
                    append_credits(out.body, verdict);
                    out.body += "}";
                    return out;
                }
                out.body = "{\"error\":\"quota_exceeded\"" + fields + ",\"plan\":";
                append_json_string(out.body, plan);
                append_limit(out.body, verdict);
                out.body += "}";
                const std::int64_t wait_us =
                    std::max<std::int64_t>(0, verdict.period_end_us - now_us);
                out.headers.emplace_back("Retry-After",
                                         std::to_string((wait_us + 999'999) / 1'000'000));
                return out;
            }
            case Verdict::accepted:
            case Verdict::duplicate:
            case Verdict::conflict:
                break;
        }
        // A retried call is the same idempotency key. Without an explicit timestamp a retry's
        // event differs in its time (the ledger counts a conflict); either way the key was
        // decided before and its first verdict stands: payload_matches tells the two apart.
        out.body = verdict.verdict == Verdict::accepted ? "{\"status\":\"accepted\""
                                                        : "{\"status\":\"duplicate\"";
        if (verdict.verdict != Verdict::accepted) {
            out.body += verdict.first_rejected ? ",\"first_verdict\":\"rejected_limit\""
                                               : ",\"first_verdict\":\"accepted\"";
            out.body += verdict.verdict == Verdict::duplicate ? ",\"payload_matches\":true"
                                                              : ",\"payload_matches\":false";
        }
        out.body += fields;
        out.body += verdict.limited ? ",\"enforcement\":\"hard\"" : ",\"enforcement\":\"soft\"";
        append_limit(out.body, verdict, true);
        if (verdict.credits) {
            append_credits(out.body, verdict);
        }
        out.body += "}";
        return out;
    }

    // ,"credits":{"cost","balance","uncovered"} of an event that burns credits.
    static void append_credits(std::string& out, const CommitVerdict& verdict) {
        out += ",\"credits\":{\"cost\":\"" +
               Decimal::from_micros(verdict.credits_micros).to_string() + "\",\"balance\":\"" +
               Decimal::from_micros(verdict.credits_balance_micros).to_string() +
               "\",\"uncovered\":\"" +
               Decimal::from_micros(verdict.credits_uncovered_micros).to_string() + "\"}";
    }

    // POST / DELETE …/leases' answer, with the mutex held.
    HttpResponse lease_response(bool timed_out, bool ledger_down) const {
        const EventState& event = events.front();
        if (auto answer = undecided(timed_out, ledger_down,
                                    lease == LeaseCall::grant ? "invalid_grant" : "invalid_lease",
                                    "the ledger did not decide in time; retry (it is decided "
                                    "once)")) {
            return std::move(*answer);
        }
        const CommitVerdict& verdict = event.verdict;
        if (verdict.verdict == Verdict::invalid) {
            return json_error(400, lease == LeaseCall::grant ? "invalid_grant" : "invalid_lease",
                              reason_code(verdict.reason));
        }
        if (lease == LeaseCall::grant) {
            if (!verdict.credits) {
                return json_error(409, "credits_not_enabled",
                                  "the ledger does not keep credits: no plan gives or burns "
                                  "credits (monthly_credits, credits_per_unit)");
            }
            // A retry is the same idempotency key; its event differs in its time (stamped
            // here), which the ledger counts as a conflict: either way the first grant stands.
            HttpResponse out;
            out.status = verdict.verdict == Verdict::accepted ? 201 : 200;
            out.body = verdict.verdict == Verdict::accepted ? "{\"status\":\"granted\""
                       : verdict.verdict == Verdict::duplicate
                           ? "{\"status\":\"duplicate\",\"payload_matches\":true"
                           : "{\"status\":\"duplicate\",\"payload_matches\":false";
            out.body += ",\"grant_id\":";
            append_json_string(out.body, idempotency_key);
            out.body += ",\"amount\":\"" +
                        Decimal::from_micros(verdict.credits_micros).to_string() +
                        "\",\"balance\":\"" +
                        Decimal::from_micros(verdict.credits_balance_micros).to_string() + "\"}";
            return out;
        }
        if (!verdict.lease) {  // the plan the ledger used has no concurrency meter by that name
            return json_error(409, "not_a_concurrency_meter",
                              "the ledger counted this as usage, not as a lease: the tenant's "
                              "plan at the event's time has no concurrency meter " +
                                  meter);
        }
        if (lease == LeaseCall::release) {
            if (verdict.verdict == Verdict::accepted && !verdict.lease_released) {
                return json_error(404, "lease_not_found",
                                  "no lease " + lease_id +
                                      " is held (released before, expired, or never acquired)");
            }
            HttpResponse out;
            out.status = 204;
            out.content_type.clear();
            return out;
        }
        std::string fields = ",\"lease_id\":";
        append_json_string(fields, lease_id);
        fields += ",\"meter\":";
        append_json_string(fields, meter);
        const std::string held =
            ",\"held\":\"" + Decimal::from_micros(verdict.used_micros).to_string() +
            "\",\"limit\":\"" + Decimal::from_micros(verdict.limit_micros).to_string() + "\"";
        HttpResponse out;
        if (verdict.verdict == Verdict::rejected_limit || verdict.first_rejected) {
            out.status = 429;
            out.body = "{\"error\":\"concurrency_limit_reached\"" + fields + ",\"plan\":";
            append_json_string(out.body, plan);
            out.body += held + "}";
            const std::int64_t wait_us =
                verdict.period_end_us > 0
                    ? std::max<std::int64_t>(0, verdict.period_end_us - now_us)
                    : 1'000'000;
            out.headers.emplace_back("Retry-After", std::to_string(std::max<std::int64_t>(
                                                        1, (wait_us + 999'999) / 1'000'000)));
            return out;
        }
        if (verdict.verdict != Verdict::accepted) {
            out.body =
                "{\"status\":\"duplicate\",\"first_verdict\":\"acquired\"" + fields + held + "}";
            return out;
        }
        out.status = 201;
        out.body = "{\"status\":\"acquired\"" + fields + ",\"slots\":";
        append_json_string(out.body, slots);
        out.body +=
            ",\"expires_at\":\"" + format_rfc3339(verdict.period_end_us) + "\"" + held + "}";
        return out;
    }

    // ,"used","limit","remaining" (exact decimals) of a hard-limited event; nulls with `nulls`.
    static void append_limit(std::string& out, const CommitVerdict& verdict, bool nulls = false) {
        if (!verdict.limited) {
            if (nulls) {
                out += ",\"used\":null,\"limit\":null,\"remaining\":null";
            }
            return;
        }
        out += ",\"used\":\"" + Decimal::from_micros(verdict.used_micros).to_string() +
               "\",\"limit\":\"" + Decimal::from_micros(verdict.limit_micros).to_string() +
               "\",\"remaining\":\"" +
               Decimal::from_micros(verdict.limit_micros - verdict.used_micros).to_string() + "\"";
    }

    // Called with the mutex held when the last event settled (or on timeout, or when the
    // ledger stopped before committing every event: `ledger_down`).
    HttpResponse response(bool timed_out, bool ledger_down = false) const {
        if (consume) {
            return consume_response(timed_out, ledger_down);
        }
        if (lease != LeaseCall::none) {
            return lease_response(timed_out, ledger_down);
        }
        HttpResponse out;
        bool failed = false;
        out.body = wait_committed ? "{\"durability\":\"ledger\",\"events\":["
                                  : "{\"durability\":\"kafka\",\"events\":[";
        for (std::size_t index = 0; index < events.size(); ++index) {
            const EventState& event = events[index];
            out.body += index == 0 ? "{\"index\":" : ",{\"index\":";
            out.body += std::to_string(index) + ",\"status\":\"";
            switch (event.status) {
                case Status::invalid:
                    out.body += "invalid\",\"error\":";
                    append_json_string(out.body, event.error);
                    break;
                case Status::queued:
                    out.body += "queued\",\"partition\":" + std::to_string(event.partition) +
                                ",\"offset\":" + std::to_string(event.offset);
                    break;
                case Status::failed:
                    failed = true;
                    out.body += "failed\",\"error\":";
                    append_json_string(out.body, event.error);
                    break;
                case Status::timed_out:
                    out.body +=
                        ledger_down
                            ? "pending\",\"error\":\"the ledger stopped before committing it\""
                            : "pending\",\"error\":\"not committed by the ledger in time\"";
                    break;
                case Status::committed:
                    out.body += std::string(verdict_name(event.verdict.verdict)) + "\"";
                    if (event.verdict.verdict == Verdict::invalid ||
                        event.verdict.verdict == Verdict::rejected_limit) {
                        out.body += ",\"error\":";
                        append_json_string(out.body, reason_code(event.verdict.reason));
                    } else if (event.verdict.first_rejected) {
                        out.body += ",\"first_verdict\":\"rejected_limit\"";
                    } else {
                        out.body +=
                            ",\"ledger_partition\":" + std::to_string(event.verdict.partition) +
                            ",\"ledger_sequence\":" + std::to_string(event.verdict.sequence);
                    }
                    append_limit(out.body, event.verdict);
                    break;
            }
            out.body += "}";
        }
        out.body += "]}";
        out.status = failed || ledger_down ? 503 : timed_out ? 504 : wait_committed ? 200 : 202;
        return out;
    }
};

Result<std::unique_ptr<Ingest>, std::string> Ingest::start(IngestOptions options) {
    std::unique_ptr<Ingest> ingest(new Ingest());
    ingest->options_ = std::move(options);
    ingest->validator_ = std::make_unique<EventValidator>(ingest->options_.validation);
    ProducerOptions producer_options;
    producer_options.bootstrap = ingest->options_.bootstrap;
    producer_options.topic = ingest->options_.topic;
    producer_options.validation = ingest->options_.validation;
    producer_options.extra_config = ingest->options_.kafka_settings;
    producer_options.on_raw_delivery = [raw = ingest.get()](const DeliveryReport& report) {
        raw->delivered(report);
    };
    auto producer = UsageProducer::create(producer_options);
    if (!producer) {
        return unexpected(producer.error());
    }
    ingest->producer_ = std::move(producer).value();
    ingest->poller_ = std::thread([raw = ingest.get()] { raw->poll_loop(); });
    return ingest;
}

Ingest::~Ingest() {
    stop_.store(true);
    if (poller_.joinable()) {
        poller_.join();
    }
}

void Ingest::poll_loop() {
    while (!stop_.load()) {
        producer_->poll(50);
        // Requests whose ledger verdicts did not come in time answer 504 with what is known;
        // all of them answer 503 at once when the ledger of this process stopped.
        const bool ledger_down =
            options_.health != nullptr && options_.health->failure_of("ledger").has_value();
        std::vector<std::shared_ptr<Request>> expired;
        {
            std::lock_guard lock(pending_mutex_);
            const auto now = std::chrono::steady_clock::now();
            for (auto it = waiting_.begin(); it != waiting_.end();) {
                if (ledger_down || (*it)->deadline <= now) {
                    expired.push_back(*it);
                    it = waiting_.erase(it);
                } else {
                    ++it;
                }
            }
        }
        for (const auto& request : expired) {
            std::lock_guard lock(request->mutex);
            if (request->replied) {
                continue;
            }
            for (auto& event : request->events) {
                if (event.status == Status::queued) {
                    event.status = Status::timed_out;
                    if (options_.commit_waiter != nullptr) {
                        options_.commit_waiter->cancel(static_cast<std::uint32_t>(event.partition),
                                                       event.offset);
                    }
                }
            }
            request->replied = true;
            request->reply(request->response(true, ledger_down));
        }
    }
}

void Ingest::handle(const HttpRequest& http, const std::string& tenant, HttpReply reply) {
    auto request = std::make_shared<Request>();
    request->reply = std::move(reply);
    request->body = http.body;
    const auto wait = http.query_param("wait");
    if (wait && *wait != "committed" && *wait != "acknowledged") {
        request->reply(json_error(400, "bad_wait", "wait must be acknowledged or committed"));
        return;
    }
    request->wait_committed = wait ? *wait == "committed" : options_.wait_committed_by_default;
    if (refused_while_ledger_down(request)) {
        return;
    }
    if (request->wait_committed && options_.commit_waiter == nullptr) {
        request->reply(json_error(
            400, "wait_unavailable",
            "wait=committed needs the ledger in this process (usage-ledger up); this process "
            "serves projections only"));
        return;
    }
    const std::size_t max_events = options_.max_events_per_request;
    auto texts = split_events(request->body, http.content_type, max_events);
    if (!texts) {
        request->reply(json_error(400, "bad_body", texts.error()));
        return;
    }
    if (texts->size() > max_events) {
        request->reply(json_error(413, "too_many_events",
                                  "the body holds more than " + std::to_string(max_events) +
                                      " events; send at most " + std::to_string(max_events) +
                                      " events per request (nothing was sent)"));
        return;
    }
    submit(request, *texts, tenant);
}

void Ingest::submit(const std::shared_ptr<Request>& request,
                    const std::vector<std::string_view>& texts, const std::string& tenant) {
    std::vector<std::string> tenants(texts.size());
    request->events.resize(texts.size());
    {
        std::lock_guard lock(validator_mutex_);
        const std::int64_t now = options_.now_us();
        for (std::size_t index = 0; index < texts.size(); ++index) {
            EventState& event = request->events[index];
            event.text = texts[index];
            auto valid = validator_->validate(event.text, now);
            if (!valid) {
                event.error =
                    std::string(reason_code(valid.error().reason)) + ": " + valid.error().detail;
                continue;
            }
            event.status = Status::queued;
            tenants[index] = std::string(valid->tenant_id);
            if (!tenant.empty() && valid->tenant_id != tenant) {
                request->reply(json_error(403, "forbidden",
                                          "event " + std::to_string(index) + " is for tenant " +
                                              tenants[index] + "; this key sends for " + tenant +
                                              " only (nothing was sent)"));
                return;
            }
        }
    }
    const bool all_invalid =
        std::all_of(request->events.begin(), request->events.end(),
                    [](const EventState& event) { return event.status == Status::invalid; });
    if (all_invalid) {
        request->reply(request->consume || request->lease != Request::LeaseCall::none
                           ? request->response(false)
                           : request->all_invalid());
        return;
    }
    std::lock_guard lock(request->mutex);
    for (std::size_t index = 0; index < request->events.size(); ++index) {
        EventState& event = request->events[index];
        if (event.status != Status::queued) {
            continue;
        }
        const std::uint64_t token = next_token_.fetch_add(1);
        {
            std::lock_guard pending(pending_mutex_);
            pending_.emplace(token, std::make_pair(request, index));
        }
        auto queued = producer_->produce_raw(tenants[index], event.text, token);
        if (!queued) {
            std::lock_guard pending(pending_mutex_);
            pending_.erase(token);
            event.status = Status::failed;
            event.error = queued.error().detail.empty() ? "the producer queue is full"
                                                        : queued.error().detail;
            continue;
        }
        ++request->outstanding;
    }
    if (request->outstanding == 0) {
        request->replied = true;
        request->reply(request->response(false));
        return;
    }
    if (request->wait_committed) {
        request->deadline = std::chrono::steady_clock::now() + options_.commit_timeout;
        std::lock_guard pending(pending_mutex_);
        waiting_.push_back(request);
    }
}

bool Ingest::refused_while_ledger_down(const std::shared_ptr<Request>& request) {
    if (options_.health != nullptr) {
        if (auto down = options_.health->failure_of("ledger")) {
            request->reply(json_error(503, "ledger_unavailable",
                                      "the ledger of this process stopped (" + *down +
                                          "); nothing was sent — retry once it runs again"));
            return true;
        }
    }
    return false;
}

bool Ingest::ledger_can_decide(const std::shared_ptr<Request>& request, std::string_view what) {
    if (refused_while_ledger_down(request)) {
        return false;
    }
    if (options_.commit_waiter == nullptr) {
        request->reply(
            json_error(503, std::string(what) + "_unavailable",
                       std::string(what) + " needs the ledger in this process (usage-ledger up)"));
        return false;
    }
    return true;
}

namespace {

// The concurrency meter `meter` of `plan`, or a 400 / 404 explaining why there is none.
Result<const MeterPlan*, HttpResponse> concurrency_meter(const Plan* plan, std::string_view meter,
                                                         const std::string& plan_id) {
    const MeterPlan* meter_plan = plan != nullptr ? plan->find(meter) : nullptr;
    if (meter_plan == nullptr || !meter_plan->concurrency) {
        return unexpected(
            json_error(400, "not_a_concurrency_meter",
                       "plan " + plan_id + " has no concurrency meter '" + std::string(meter) +
                           "' (a plan meter with \"kind\": \"concurrency\" holds leases)"));
    }
    return meter_plan;
}

}  // namespace

namespace {

using FieldVisitor = std::function<bool(std::string_view key, simdjson::ondemand::value& value,
                                        std::string_view raw)>;

// Calls `visit` for each field of the JSON object `body` with the field's raw JSON; answers 400
// bad_body (the body's expected `shape` in the detail) and returns false when the body is not
// one. `visit` returns false after answering itself.
bool for_each_body_field(const std::string& body, const HttpReply& reply, std::string_view shape,
                         const FieldVisitor& visit) {
    simdjson::ondemand::parser parser;
    const simdjson::padded_string padded(body);
    simdjson::ondemand::document document;
    simdjson::ondemand::object object;
    if (parser.iterate(padded).get(document) != simdjson::SUCCESS ||
        document.get_object().get(object) != simdjson::SUCCESS) {
        reply(json_error(400, "bad_body", "the body is not a JSON object " + std::string(shape)));
        return false;
    }
    for (auto field : object) {
        std::string_view key;
        simdjson::ondemand::value value;
        std::string_view raw;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
            field.value().get(value) != simdjson::SUCCESS ||
            simdjson::to_json_string(value).get(raw) != simdjson::SUCCESS) {
            reply(json_error(400, "bad_body", "the body is not valid JSON"));
            return false;
        }
        if (!visit(key, value, raw)) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::shared_ptr<Ingest::Request> Ingest::decided_request(HttpReply reply, std::string_view what) {
    auto request = std::make_shared<Request>();
    request->reply = std::move(reply);
    request->wait_committed = true;
    request->now_us = options_.now_us();
    return ledger_can_decide(request, what) ? request : nullptr;
}

void Ingest::acquire_lease(const HttpRequest& http, const std::string& tenant,
                           const std::string& plan_id, const Plan* plan, HttpReply reply) {
    auto request = decided_request(std::move(reply), "leases");
    if (!request) {
        return;
    }
    request->lease = Request::LeaseCall::acquire;
    request->plan = plan_id;
    std::string ttl_text = "15m";
    request->slots = "1";
    const bool read = for_each_body_field(
        http.body, request->reply, "{\"meter\",\"ttl\",…}",
        [&](std::string_view key, simdjson::ondemand::value& value, std::string_view) {
            std::string_view text;
            if (key != "meter" && key != "ttl" && key != "slots" && key != "idempotency_key") {
                request->reply(
                    json_error(400, "unknown_field",
                               "unknown field '" + std::string(key) +
                                   "'; a lease takes meter, ttl, slots, idempotency_key"));
                return false;
            }
            if (value.get_string().get(text) != simdjson::SUCCESS) {
                request->reply(json_error(400, "bad_body", std::string(key) + " must be a string"));
                return false;
            }
            (key == "meter"   ? request->meter
             : key == "ttl"   ? ttl_text
             : key == "slots" ? request->slots
                              : request->idempotency_key) = std::string(text);
            return true;
        });
    if (!read) {
        return;
    }
    auto meter_plan = concurrency_meter(plan, request->meter, plan_id);
    if (!meter_plan) {
        request->reply(meter_plan.error());
        return;
    }
    const auto ttl = parse_duration(ttl_text);
    if (!ttl || *ttl < kMinLeaseTtlUs || *ttl > kMaxLeaseTtlUs) {
        request->reply(json_error(400, "bad_ttl",
                                  "ttl is a duration from 1s to 30d, like \"30s\", \"15m\" or "
                                  "\"2h\""));
        return;
    }
    if (request->idempotency_key.empty()) {
        std::lock_guard lock(uuid_mutex_);
        request->idempotency_key = uuids_.next();
    }
    request->lease_id = request->meter + ":" + request->idempotency_key;
    std::string event = "{\"tenant_id\":";
    append_json_string(event, tenant);
    event += ",\"meter\":";
    append_json_string(event, request->meter);
    event += ",\"quantity\":";
    append_json_string(event, request->slots);
    event += ",\"idempotency_key\":";
    append_json_string(event, request->idempotency_key);
    event += ",\"timestamp\":\"" + format_rfc3339(request->now_us) + "\"";
    event += ",\"properties\":{\"lease_ttl_ms\":" + std::to_string(*ttl / 1000) + "}}";
    request->body = std::move(event);
    submit(request, {std::string_view(request->body)}, tenant);
}

void Ingest::release_lease(const std::string& tenant, const std::string& lease_id, const Plan* plan,
                           HttpReply reply) {
    auto request = decided_request(std::move(reply), "leases");
    if (!request) {
        return;
    }
    request->lease = Request::LeaseCall::release;
    request->lease_id = lease_id;
    const auto colon = lease_id.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == lease_id.size()) {
        request->reply(json_error(404, "lease_not_found",
                                  "a lease id is <meter>:<idempotency key>, as acquiring gave it"));
        return;
    }
    request->meter = lease_id.substr(0, colon);
    const std::string key = lease_id.substr(colon + 1);
    if (auto meter_plan = concurrency_meter(plan, request->meter, "in force"); !meter_plan) {
        request->reply(meter_plan.error());
        return;
    }
    // One release per lease: a retried DELETE is a duplicate of it.
    const XXH128_hash_t hash = XXH3_128bits(key.data(), key.size());
    request->idempotency_key = fmt::format("release-{:016x}{:016x}", hash.high64, hash.low64);
    std::string event = "{\"tenant_id\":";
    append_json_string(event, tenant);
    event += ",\"meter\":";
    append_json_string(event, request->meter);
    event += ",\"quantity\":\"0\",\"idempotency_key\":";
    append_json_string(event, request->idempotency_key);
    event += ",\"timestamp\":\"" + format_rfc3339(request->now_us) + "\"";
    event += ",\"properties\":{\"lease_release\":";
    append_json_string(event, key);
    event += "}}";
    request->body = std::move(event);
    submit(request, {std::string_view(request->body)}, tenant);
}

void Ingest::grant_credits(const HttpRequest& http, const std::string& tenant, HttpReply reply) {
    auto request = decided_request(std::move(reply), "credits");
    if (!request) {
        return;
    }
    request->lease = Request::LeaseCall::grant;
    request->meter = std::string(kCreditGrantMeter);
    std::string amount;
    std::string properties;  // ,"key":value pairs
    const bool read = for_each_body_field(
        http.body, request->reply, "{\"amount\",\"idempotency_key\",…}",
        [&](std::string_view key, simdjson::ondemand::value& value, std::string_view raw) {
            std::string_view text;
            if (key == "amount") {
                amount = std::string(raw);
            } else if (key == "idempotency_key" &&
                       value.get_string().get(text) == simdjson::SUCCESS) {
                request->idempotency_key = std::string(text);
            } else if (key == "priority" || key == "expires_at" || key == "source") {
                properties += ",";
                append_json_string(properties, key);
                properties += ":";
                properties.append(raw);
            } else {
                request->reply(json_error(400, "unknown_field",
                                          "unknown or mistyped field '" + std::string(key) +
                                              "'; a grant takes amount, idempotency_key (a "
                                              "string), source, priority, expires_at"));
                return false;
            }
            return true;
        });
    if (!read) {
        return;
    }
    if (amount.empty() || request->idempotency_key.empty()) {
        request->reply(json_error(400, "bad_body",
                                  "a grant needs amount and idempotency_key (so that a retry "
                                  "grants once)"));
        return;
    }
    std::string event = "{\"tenant_id\":";
    append_json_string(event, tenant);
    event += ",\"meter\":";
    append_json_string(event, kCreditGrantMeter);
    event += ",\"quantity\":" + amount + ",\"idempotency_key\":";
    append_json_string(event, request->idempotency_key);
    event += ",\"timestamp\":\"" + format_rfc3339(request->now_us) + "\"";
    if (!properties.empty()) {
        event += ",\"properties\":{" + properties.substr(1) + "}";
    }
    event += "}";
    request->body = std::move(event);
    submit(request, {std::string_view(request->body)}, tenant);
}

void Ingest::consume(const HttpRequest& http, const std::string& tenant, const std::string& plan,
                     HttpReply reply) {
    auto request = decided_request(std::move(reply), "consume");
    if (!request) {
        return;
    }
    request->consume = true;
    request->plan = plan;
    // The body's fields, as written (raw JSON), into an event for `tenant`.
    std::string event = "{\"tenant_id\":";
    append_json_string(event, tenant);
    bool has_timestamp = false;
    bool has_key = false;
    const bool read = for_each_body_field(
        http.body, request->reply, "{\"meter\",\"quantity\",…}",
        [&](std::string_view key, simdjson::ondemand::value& value, std::string_view raw) {
            if (key != "meter" && key != "quantity" && key != "idempotency_key" &&
                key != "subject" && key != "properties" && key != "timestamp") {
                request->reply(json_error(
                    400, "unknown_field",
                    "unknown field '" + std::string(key) +
                        "'; consume takes meter, quantity, idempotency_key, subject, properties, "
                        "timestamp (the tenant is the path's)"));
                return false;
            }
            std::string_view text;
            if (key == "meter" && value.get_string().get(text) == simdjson::SUCCESS) {
                request->meter = std::string(text);
            } else if (key == "idempotency_key" &&
                       value.get_string().get(text) == simdjson::SUCCESS) {
                request->idempotency_key = std::string(text);
            }
            has_timestamp = has_timestamp || key == "timestamp";
            has_key = has_key || key == "idempotency_key";
            event += ",";
            append_json_string(event, key);
            event += ":";
            event.append(raw);
            return true;
        });
    if (!read) {
        return;
    }
    if (!has_key) {  // made here (a key of the wrong type is the validator's to refuse)
        std::lock_guard lock(uuid_mutex_);
        request->idempotency_key = uuids_.next();
        event += ",\"idempotency_key\":";
        append_json_string(event, request->idempotency_key);
    }
    if (!has_timestamp) {
        event += ",\"timestamp\":\"" + format_rfc3339(request->now_us) + "\"";
    }
    event += "}";
    request->body = std::move(event);
    submit(request, {std::string_view(request->body)}, tenant);
}

void Ingest::delivered(const DeliveryReport& report) {
    std::shared_ptr<Request> request;
    std::size_t index = 0;
    {
        std::lock_guard lock(pending_mutex_);
        const auto found = pending_.find(report.token);
        if (found == pending_.end()) {
            return;
        }
        request = found->second.first;
        index = found->second.second;
        pending_.erase(found);
    }
    auto settle = [this, request]() {
        // With request->mutex held.
        if (--request->outstanding == 0 && !request->replied) {
            request->replied = true;
            if (request->wait_committed) {
                std::lock_guard pending(pending_mutex_);
                std::erase(waiting_, request);
            }
            request->reply(request->response(false));
        }
    };
    {
        std::lock_guard lock(request->mutex);
        EventState& event = request->events[index];
        if (!report.ok) {
            event.status = Status::failed;
            event.error = report.error;
            settle();
            return;
        }
        event.partition = report.partition;
        event.offset = report.offset;
        if (!request->wait_committed) {
            settle();
            return;
        }
    }
    // Outside the request's lock: a verdict already known runs the callback right here.
    options_.commit_waiter->expect(static_cast<std::uint32_t>(report.partition), report.offset,
                                   [request, index, settle](const CommitVerdict& verdict) {
                                       std::lock_guard inner(request->mutex);
                                       if (request->replied) {
                                           return;
                                       }
                                       request->events[index].status = Status::committed;
                                       request->events[index].verdict = verdict;
                                       settle();
                                   });
}

}  // namespace ul
