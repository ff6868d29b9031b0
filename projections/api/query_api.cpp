#include "projections/api/query_api.h"

#include <spdlog/spdlog.h>

#include <date/tz.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "projections/alerts/alerts_reducer.h"
#include "projections/api/dashboard.h"
#include "projections/api/process_metrics.h"
#include "projections/api/security_headers.h"
#include "projections/counters/quota.h"
#include "projections/runner/limit_policy.h"
#include "projections/runner/windows.h"
#include "schemas/canonical.h"
#include "schemas/time.h"

namespace ul {
namespace {

constexpr std::size_t kMaxId = 64;

bool valid_tenant(std::string_view tenant) {
    return !tenant.empty() && tenant.size() <= kMaxId &&
           std::all_of(tenant.begin(), tenant.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == ':' || c == '-';
           });
}

bool valid_meter(std::string_view meter) {
    return !meter.empty() && meter.size() <= kMaxId &&
           std::all_of(meter.begin(), meter.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                      c == '-';
           });
}

HttpResponse json_ok(std::string body) {
    HttpResponse response;
    response.body = std::move(body);
    return response;
}

void append_decimal(std::string& out, DecimalSum value) {
    char text[DecimalSum::kFormatBytes];
    const std::size_t length = value.format(text);
    out.push_back('"');
    out.append(text, length);
    out.push_back('"');
}

void append_decimal(std::string& out, Decimal value) {
    char text[Decimal::kFormatBytes];
    const std::size_t length = value.format(text);
    out.push_back('"');
    out.append(text, length);
    out.push_back('"');
}

// Thousandths of a percent as a JSON number: 83333 → 83.333, 100000 → 100.
void append_percentage(std::string& out, std::int64_t milli) {
    out.append(std::to_string(milli / 1000));
    if (const std::int64_t fraction = milli % 1000; fraction != 0) {
        std::string digits = std::to_string(fraction);
        digits.insert(0, 3 - digits.size(), '0');
        while (digits.back() == '0') {
            digits.pop_back();
        }
        out.push_back('.');
        out.append(digits);
    }
}

void append_optional_decimal(std::string& out, const std::optional<DecimalSum>& value) {
    if (value) {
        append_decimal(out, *value);
    } else {
        out.append("null");
    }
}

// A month entry's figures against its plan meter (nullptr: not in the plan): limit, the
// thresholds that decide the flags (none without a limit), remaining (null: unlimited),
// percentage, flags and overage.
void append_month_figures(std::string& body, const QuotaFigures& figures,
                          const MeterPlan* meter_plan) {
    body.append(",\"limit\":");
    if (figures.limit) {
        append_decimal(body, *figures.limit);
    } else {
        body.append("null");
    }
    body.append(",\"thresholds\":[");
    if (figures.limit && meter_plan != nullptr) {
        for (std::size_t index = 0; index < meter_plan->thresholds.size(); ++index) {
            body.append(index == 0 ? "" : ",");
            append_decimal(body, meter_plan->thresholds[index]);
        }
    }
    body.append("],\"remaining\":");
    append_optional_decimal(body, figures.remaining);
    body.append(",\"percentage\":");
    append_percentage(body, figures.percentage_milli);
    body.append(",\"unlimited\":").append(figures.unlimited ? "true" : "false");
    body.append(",\"is_warning\":").append(figures.is_warning ? "true" : "false");
    body.append(",\"is_upgrade_suggested\":")
        .append(figures.is_upgrade_suggested ? "true" : "false");
    body.append(",\"is_blocked\":").append(figures.is_blocked ? "true" : "false");
    // hard: the ledger refuses events past the limit (rejected_limit), so is_blocked means
    // refused, not billed as overage.
    body.append(",\"enforcement\":")
        .append(meter_plan != nullptr && meter_plan->hard ? "\"hard\"" : "\"soft\"");
    body.append(",\"overage_units\":");
    append_decimal(body, figures.overage_units);
    body.append(",\"overage_cost\":");
    append_decimal(body, figures.overage_cost);
}

void append_period(std::string& out, const Period& period) {
    out.append("{\"start\":\"").append(format_rfc3339(period.start_us));
    out.append("\",\"end\":\"").append(format_rfc3339(period.end_us)).append("\"}");
}

Result<std::int64_t, HttpResponse> time_param(const HttpRequest& request, std::string_view name,
                                              std::int64_t fallback) {
    const auto text = request.query_param(name);
    if (!text) {
        return fallback;
    }
    auto parsed = parse_rfc3339(*text);
    if (!parsed) {
        return unexpected(json_error(400, "bad_" + std::string(name),
                                     std::string(name) + " must be an RFC 3339 time such as "
                                                         "2026-11-01T00:00:00Z"));
    }
    return *parsed;
}

// Periods whose bounds RFC 3339 can write (years 0000-9999); else the 400 to answer.
std::optional<HttpResponse> unwritable(const Period& first, const Period& last) {
    if (rfc3339_representable(first.start_us) && rfc3339_representable(last.end_us)) {
        return std::nullopt;
    }
    return json_error(400, "out_of_range",
                      "the periods asked for end after 9999-12-31T23:59:59.999999Z, which RFC "
                      "3339 cannot write; ask for an earlier time");
}

// The client a failed authentication is charged to: the peer's address without its port, or,
// when the server did not give one, the credential presented.
std::string client_of(const HttpRequest& request) {
    if (request.remote.empty()) {
        return "credential " + request.authorization;
    }
    return "address " + request.remote.substr(0, request.remote.rfind(':'));
}

// 403 insufficient_scope unless the principal may use `scope`.
std::optional<HttpResponse> scope_refusal(const ApiPrincipal& principal, std::uint8_t scope) {
    if (principal.may(scope)) {
        return std::nullopt;
    }
    return json_error(403, "insufficient_scope",
                      "this key's scopes " + scopes_json(principal.scopes) + " do not include " +
                          scopes_json(scope));
}

HttpResponse rate_limited(std::int64_t wait, std::string_view what) {
    HttpResponse response = json_error(
        429, "rate_limited", std::string(what) + "; retry after " + std::to_string(wait) + " s");
    response.headers.emplace_back("Retry-After", std::to_string(wait));
    return response;
}

}  // namespace

QueryApi::QueryApi(QueryApiOptions options, PlanBook plans, const ProjectionService& projections)
    : options_(std::move(options)),
      plans_(std::move(plans)),
      projections_(projections),
      limiter_(options_.rate_limit),
      failed_auth_limiter_(options_.failed_auth_rate_limit) {
    for (const auto& key : options_.admin_keys) {
        keys_.add_admin_key(key);
    }
    refresh_keys();
}

void QueryApi::refresh_keys() {
    const std::uint64_t version = projections_.accounts_version();
    if (version == keys_version_.load()) {
        return;
    }
    // Rebuilt from the current accounts: a deleted account's key, or a key replaced or removed
    // by `account set`, stops working at once. One rebuild at a time, so an older one never
    // lands after a newer one.
    std::lock_guard rebuilding(keys_rebuild_mutex_);
    if (version == keys_version_.load()) {
        return;
    }
    std::vector<TenantKey> keys;
    for (const auto& account : projections_.accounts()) {
        for (const ActiveKey& key : active_keys(account)) {
            keys.push_back(
                {account.tenant_id, std::string(key.id), std::string(key.sha256), key.scopes});
        }
    }
    keys_.replace_tenant_keys(keys);
    keys_version_.store(version);
}

Result<ApiPrincipal, HttpResponse> QueryApi::identify(const HttpRequest& request) {
    refresh_keys();
    const std::int64_t now = options_.now_us();
    const auto principal = keys_.find(request.authorization, now);
    if (!principal) {
        if (const std::int64_t wait = failed_auth_limiter_.take(client_of(request), now);
            wait > 0) {
            return unexpected(
                rate_limited(wait, "too many failed authentications from this client"));
        }
        HttpResponse response =
            json_error(401, "unauthorized",
                       request.authorization.empty()
                           ? "send Authorization: Bearer <key> (a tenant's key or an admin key)"
                           : "the key in Authorization is not known");
        response.headers.emplace_back("WWW-Authenticate", "Bearer");
        return unexpected(std::move(response));
    }
    if (const std::int64_t wait = limiter_.take(request.authorization, now); wait > 0) {
        return unexpected(rate_limited(wait, "too many requests for this key"));
    }
    return *principal;
}

std::optional<HttpResponse> QueryApi::authorize(const HttpRequest& request,
                                                const std::string* tenant, std::uint8_t scope) {
    auto principal = identify(request);
    if (!principal) {
        return principal.error();
    }
    if (tenant == nullptr) {  // an admin route
        if (!principal->admin) {
            return json_error(403, "forbidden", "this route needs an admin key");
        }
        return std::nullopt;
    }
    if (!valid_tenant(*tenant)) {
        return json_error(400, "bad_tenant", "a tenant id is 1-64 of [A-Za-z0-9._:-]");
    }
    if (!principal->admin && principal->tenant_id != *tenant) {
        return json_error(403, "forbidden", "this key belongs to another tenant");
    }
    return scope_refusal(*principal, scope);
}

const Plan* QueryApi::plan_of(const std::string& tenant, std::string* plan_id) const {
    ServedPlan served = served_plan(tenant, /*count=*/false);
    if (plan_id != nullptr) {
        *plan_id = std::move(served.plan_id);
    }
    return served.plan;
}

ServedPlan QueryApi::served_plan(const std::string& tenant, bool count) const {
    ServedPlan served;
    const auto account = projections_.account(tenant);
    served.account_known = account.has_value();
    if (account) {
        served.account_plan = account->plan;
    }
    served.plan_id = !served.account_plan.empty() ? served.account_plan : plans_.default_plan;
    served.plan = plans_.find(served.plan_id);
    if (served.plan == nullptr) {
        spdlog::warn("api: tenant {} has plan {}, which the plans file does not define; using {}",
                     tenant, served.plan_id, plans_.default_plan);
        served.plan_known = false;
        served.plan_id = plans_.default_plan;
        served.plan = plans_.find(served.plan_id);
    }
    if (count && !served.account_known) {
        probe_.unknown_tenant_total.fetch_add(1, std::memory_order_relaxed);
    }
    if (count && !served.plan_known) {
        probe_.unknown_plan_total.fetch_add(1, std::memory_order_relaxed);
    }
    return served;
}

void QueryProbe::append_metrics(std::string& out) const {
    append_metric_header(out, "query_unknown_tenant_total", "counter",
                         "Usage and entitlement questions about a tenant without an account "
                         "(answered on the default plan, with known false)");
    append_metric_sample(out, "query_unknown_tenant_total", "",
                         unknown_tenant_total.load(std::memory_order_relaxed));
    append_metric_header(out, "query_unknown_meter_total", "counter",
                         "Usage entries and entitlement checks of a meter the tenant's plan "
                         "does not list");
    append_metric_sample(out, "query_unknown_meter_total", "",
                         unknown_meter_total.load(std::memory_order_relaxed));
    append_metric_header(out, "query_unknown_plan_total", "counter",
                         "Usage and entitlement questions about a tenant whose account names a "
                         "plan the plans file lacks (answered on the default plan)");
    append_metric_sample(out, "query_unknown_plan_total", "",
                         unknown_plan_total.load(std::memory_order_relaxed));
}

BillingCalendar QueryApi::calendar_at(const std::string& tenant, std::int64_t time_us) const {
    return projections_.calendar_at(tenant, time_us);
}

void QueryApi::append_as_of(std::string& out) const {
    out.append("\"as_of\":{\"positions\":{");
    bool first = true;
    for (const auto& [partition, next] : projections_.positions()) {
        out.append(first ? "\"" : ",\"").append(std::to_string(partition)).append("\":");
        out.append(std::to_string(next));
        first = false;
    }
    out.append("},\"applied\":").append(std::to_string(projections_.metrics().applied.load()));
    out.append(",\"lag\":").append(std::to_string(projections_.metrics().lag.load()));
    out.append(",\"ledger_lag\":").append(std::to_string(projections_.metrics().ledger_lag.load()));
    out.append("}");
}

HttpResponse QueryApi::healthz() const {
    // Alive while every part of the process runs: a stopped consumer thread is a dead process
    // for a supervisor, even though HTTP still answers.
    const auto failures = options_.health == nullptr ? std::vector<ComponentHealth::Failure>{}
                                                     : options_.health->failures();
    if (failures.empty()) {
        return json_ok("{\"status\":\"ok\"}");
    }
    std::string body = "{\"status\":\"failed\",\"failed\":[";
    for (std::size_t index = 0; index < failures.size(); ++index) {
        body.append(index == 0 ? "{\"component\":" : ",{\"component\":");
        append_json_string(body, failures[index].component);
        body.append(",\"error\":");
        append_json_string(body, failures[index].error);
        body.append("}");
    }
    body.append("]}");
    HttpResponse response = json_ok(std::move(body));
    response.status = 503;
    return response;
}

HttpResponse QueryApi::readyz() const {
    const auto& metrics = projections_.metrics();
    const auto assigned = metrics.assigned_partitions.load();
    const auto lag = metrics.lag.load();
    const auto stalled = metrics.stalled_partitions.load();
    const bool accounts = metrics.accounts_loaded.load();
    const auto ledger_lag = metrics.ledger_lag.load();
    std::vector<std::string> reasons;
    if (options_.health != nullptr) {
        for (const auto& failure : options_.health->failures()) {
            reasons.push_back(failure.component + " stopped: " + failure.error);
        }
    }
    if (!metrics.caught_up.load()) {
        reasons.emplace_back("applying entries committed in the ledger store before this start");
    }
    if (ledger_lag > options_.ready_lag_bound) {
        reasons.emplace_back(std::to_string(ledger_lag) +
                             " committed ledger entries not applied yet, above the bound " +
                             std::to_string(options_.ready_lag_bound));
    }
    if (metrics.disk_paused.load() != 0) {
        reasons.emplace_back("the projection paused: free disk space below --min-free-disk");
    }
    if (options_.ledger_metrics != nullptr && options_.ledger_metrics->disk_paused.load() != 0) {
        reasons.emplace_back("the ledger paused: free disk space below --min-free-disk");
    }
    if (assigned == 0) {
        reasons.emplace_back("no usage.ledger partition assigned yet");
    }
    if (lag < 0) {
        reasons.emplace_back("lag not known yet");
    } else if (lag > options_.ready_lag_bound) {
        reasons.emplace_back("lag " + std::to_string(lag) + " above the bound " +
                             std::to_string(options_.ready_lag_bound));
    }
    if (stalled > 0) {
        reasons.emplace_back(std::to_string(stalled) +
                             " partitions stopped at a gap in usage.ledger");
    }
    if (!accounts) {
        reasons.emplace_back("usage.accounts not read to its end yet");
    }
    std::string body = "{\"ready\":";
    body.append(reasons.empty() ? "true" : "false");
    body.append(",\"assigned_partitions\":").append(std::to_string(assigned));
    body.append(",\"lag\":").append(std::to_string(lag));
    body.append(",\"ledger_lag\":").append(std::to_string(ledger_lag));
    body.append(",\"lag_bound\":").append(std::to_string(options_.ready_lag_bound));
    body.append(",\"stalled_partitions\":").append(std::to_string(stalled));
    body.append(",\"reasons\":[");
    for (std::size_t index = 0; index < reasons.size(); ++index) {
        if (index > 0) {
            body.push_back(',');
        }
        append_json_string(body, reasons[index]);
    }
    body.append("]}");
    HttpResponse response = json_ok(std::move(body));
    response.status = reasons.empty() ? 200 : 503;
    return response;
}

HttpResponse QueryApi::metrics() const {
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (options_.ledger_metrics != nullptr) {
        append_ledger_metrics_text(*options_.ledger_metrics, response.body);
    }
    append_projection_metrics_text(projections_.metrics(), response.body);
    probe_.append_metrics(response.body);
    if (options_.alerts != nullptr) {
        options_.alerts->append_metrics(response.body);
    }
    if (options_.billing != nullptr) {
        options_.billing->append_metrics(response.body);
    }
    if (server_ != nullptr) {
        append_metric_header(response.body, "http_connections_open", "gauge",
                             "HTTP connections accepted and not closed");
        append_metric_sample(response.body, "http_connections_open", "",
                             static_cast<std::uint64_t>(server_->open_connections()));
        append_metric_header(response.body, "http_connections_max", "gauge",
                             "The connection limit in force");
        append_metric_sample(response.body, "http_connections_max", "",
                             static_cast<std::uint64_t>(server_->max_connections()));
        append_metric_header(response.body, "http_idle_connections_closed_total", "counter",
                             "Idle connections closed to admit a new one at max_connections.");
        append_metric_sample(response.body, "http_idle_connections_closed_total", "",
                             server_->idle_closed_total());
        append_metric_header(response.body, "http_accept_paused_total", "counter",
                             "Times accepting paused: at the connection limit or out of "
                             "descriptors");
        append_metric_sample(response.body, "http_accept_paused_total", "",
                             server_->accept_paused_total());
        server_->request_metrics().append_text(response.body);
    }
    if (const auto process = read_process_sample()) {
        append_process_metrics_text(*process, response.body);
    }
    return response;
}

HttpResponse QueryApi::usage(const HttpRequest& request, const std::string& tenant) const {
    const std::string period_text(request.query_param("period").value_or("month"));
    const auto window = parse_window(period_text);
    if (!window) {
        return json_error(400, "bad_period", "period must be month, day or hour");
    }
    auto at = time_param(request, "at", options_.now_us());
    if (!at) {
        return at.error();
    }
    const BillingCalendar calendar = calendar_at(tenant, *at);
    const Period period = period_of(*window, calendar, *at);
    if (auto denied = unwritable(period, period)) {
        return *denied;
    }
    const ServedPlan served = served_plan(tenant, /*count=*/true);
    const Plan* plan = served.plan;
    std::set<std::string> meters;
    if (plan != nullptr) {
        for (const auto& meter : plan->meters) {
            meters.insert(meter.meter);
        }
    }
    auto used_meters = projections_.meters(tenant);
    if (!used_meters) {
        return json_error(500, "internal", used_meters.error());
    }
    std::map<std::string, Cell> cells;
    for (const auto& meter : *used_meters) {
        auto cell = projections_.cell(CounterKey{tenant, meter, *window, period.start_us});
        if (!cell) {
            return json_error(500, "internal", cell.error());
        }
        if (*cell) {
            cells[meter] = **cell;
            meters.insert(meter);
        }
    }
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body.append(",\"known\":").append(served.account_known ? "true" : "false");
    body.append(",\"plan\":");
    append_json_string(body, served.plan_id);
    body.append(",\"plan_known\":").append(served.plan_known ? "true" : "false");
    body.append(",\"account_plan\":");
    if (served.account_known) {
        append_json_string(body, served.account_plan);
    } else {
        body.append("null");
    }
    body.append(",\"plan_name\":");
    append_json_string(body, served.plan->name);
    body.append(",\"currency\":");
    append_json_string(body, plans_.currency);
    body.append(",\"group_by\":{");
    for (auto group = plans_.group_by.begin(); group != plans_.group_by.end(); ++group) {
        body.append(group == plans_.group_by.begin() ? "" : ",");
        append_json_string(body, group->first);
        body.append(":[");
        for (std::size_t index = 0; index < group->second.size(); ++index) {
            body.append(index == 0 ? "" : ",");
            append_json_string(body, group->second[index]);
        }
        body.append("]");
    }
    body.append("}");
    body.append(",\"time_zone\":");
    append_json_string(body, calendar.zone == nullptr ? std::string("UTC") : calendar.zone->name());
    body.append(",\"period\":\"").append(window_name(*window)).append("\",\"start\":\"");
    body.append(format_rfc3339(period.start_us)).append("\",\"end\":\"");
    body.append(format_rfc3339(period.end_us)).append("\",\"meters\":[");
    bool first = true;
    for (const auto& meter : meters) {
        const auto found = cells.find(meter);
        const Cell cell = found == cells.end() ? Cell{} : found->second;
        const MeterPlan* meter_plan = plan == nullptr ? nullptr : plan->find(meter);
        if (meter_plan == nullptr) {
            probe_.unknown_meter_total.fetch_add(1, std::memory_order_relaxed);
        }
        body.append(first ? "{\"meter\":" : ",{\"meter\":");
        first = false;
        append_json_string(body, meter);
        body.append(",\"used\":");
        append_decimal(body, cell.sum);
        body.append(",\"count\":").append(std::to_string(cell.count));
        body.append(",\"known\":").append(meter_plan != nullptr ? "true" : "false");
        if (*window != WindowKind::month) {
            // Plans limit months; hours and days report usage only.
            body.append(",\"limit\":null,\"limit_period\":\"month\"}");
            continue;
        }
        auto figures = quota_figures(meter_plan, cell.sum);
        if (!figures) {
            return json_error(500, "overflow", figures.error());
        }
        append_month_figures(body, *figures, meter_plan);
        body.append("}");
    }
    body.append("],");
    append_as_of(body);
    body.append("}");
    return json_ok(std::move(body));
}

HttpResponse QueryApi::history(const HttpRequest& request, const std::string& tenant) const {
    const auto meter_param = request.query_param("meter");
    if (!meter_param) {
        return json_error(400, "missing_meter", "meter is required");
    }
    const std::string meter(*meter_param);
    if (!valid_meter(meter)) {
        return json_error(400, "bad_meter", "a meter is 1-64 of [a-z0-9_.-]");
    }
    const std::string window_text(request.query_param("window").value_or("day"));
    const auto window = parse_window(window_text);
    if (!window) {
        return json_error(400, "bad_window", "window must be hour, day or month");
    }
    const std::int64_t now = options_.now_us();
    auto to = time_param(request, "to", now);
    if (!to) {
        return to.error();
    }
    constexpr std::int64_t kHour = 3'600'000'000LL;
    constexpr std::int64_t kDay = 24 * kHour;
    const std::int64_t span = *window == WindowKind::hour  ? 48 * kHour
                              : *window == WindowKind::day ? 30 * kDay
                                                           : 365 * kDay;
    auto from = time_param(request, "from", *to - span);
    if (!from) {
        return from.error();
    }
    if (*from > *to) {
        return json_error(400, "bad_range", "from must not be after to");
    }
    const auto group_by = request.query_param("group_by");
    if (group_by && *window != WindowKind::day) {
        return json_error(400, "bad_group_by", "group_by needs window=day");
    }
    // Each period with the calendar in force at its start: around an account change the months
    // are the ones the entries were counted in.
    std::vector<Period> periods;
    for (Period period = period_of(*window, calendar_at(tenant, *from), *from);
         period.start_us <= *to;
         period = period_of(*window, calendar_at(tenant, period.end_us), period.end_us)) {
        if (periods.size() == options_.max_history_points) {
            return json_error(400, "too_many_points",
                              "at most " + std::to_string(options_.max_history_points) +
                                  " periods per request; narrow from/to or use a wider window");
        }
        periods.push_back(period);
    }
    if (auto denied = unwritable(periods.front(), periods.back())) {
        return *denied;
    }
    auto append_points = [&](std::string& out, const std::map<std::int64_t, Cell>& cells) {
        out.push_back('[');
        for (std::size_t index = 0; index < periods.size(); ++index) {
            const auto found = cells.find(periods[index].start_us);
            const Cell cell = found == cells.end() ? Cell{} : found->second;
            out.append(index == 0 ? "{\"start\":\"" : ",{\"start\":\"");
            out.append(format_rfc3339(periods[index].start_us)).append("\",\"end\":\"");
            out.append(format_rfc3339(periods[index].end_us)).append("\",\"sum\":");
            append_decimal(out, cell.sum);
            out.append(",\"count\":").append(std::to_string(cell.count)).append("}");
        }
        out.push_back(']');
    };
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body.append(",\"meter\":");
    append_json_string(body, meter);
    body.append(",\"window\":\"").append(window_name(*window)).append("\",\"from\":\"");
    body.append(format_rfc3339(periods.front().start_us)).append("\",\"to\":\"");
    body.append(format_rfc3339(periods.back().end_us)).append("\",");
    if (!group_by) {
        std::map<std::int64_t, Cell> cells;
        std::string low;
        std::string high;
        append_counter_key(CounterKey{tenant, meter, *window, periods.front().start_us}, low);
        append_counter_key(CounterKey{tenant, meter, *window, periods.back().end_us}, high);
        auto read = projections_.for_each_counter_range(
            low, high, [&](const CounterKey& key, const Cell& cell) {
                cells[key.period_start_us] = cell;
                return true;
            });
        if (!read) {
            return json_error(500, "internal", read.error());
        }
        body.append("\"points\":");
        append_points(body, cells);
    } else {
        std::map<std::string, std::map<std::int64_t, Cell>> groups;
        const std::int64_t first = periods.front().start_us;
        const std::int64_t last = periods.back().end_us;
        auto read = projections_.for_each_breakdown(
            counter_prefix(tenant, meter), [&](const BreakdownKey& key, const Cell& cell) {
                if (key.property == *group_by && key.day_start_us >= first &&
                    key.day_start_us < last) {
                    groups[std::string(key.value)][key.day_start_us] = cell;
                }
                return true;
            });
        if (!read) {
            return json_error(500, "internal", read.error());
        }
        body.append("\"group_by\":");
        append_json_string(body, *group_by);
        body.append(",\"groups\":[");
        bool first_group = true;
        for (const auto& [value, cells] : groups) {
            body.append(first_group ? "{\"value\":" : ",{\"value\":");
            first_group = false;
            append_json_string(body, value);
            body.append(",\"points\":");
            append_points(body, cells);
            body.append("}");
        }
        body.append("]");
    }
    body.append(",");
    append_as_of(body);
    body.append("}");
    return json_ok(std::move(body));
}

HttpResponse QueryApi::leases(const std::string& tenant) const {
    auto rows = projections_.lease_rows(tenant);
    if (!rows) {
        return json_error(500, "internal", rows.error());
    }
    const std::int64_t now = options_.now_us();
    const ServedPlan served = served_plan(tenant, /*count=*/false);
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body.append(",\"leases\":[");
    std::map<std::string, std::int64_t> held;  // meter → slots (µ) held now
    bool first = true;
    std::vector<LeaseLine> lines;
    for (const auto& [meter, row] : *rows) {
        if (!parse_lease_row(row, lines)) {
            spdlog::warn("leases: a damaged lease row of {}/{}", tenant, meter);
        }
        for (const LeaseLine& lease : lines) {
            if (lease.expires_us <= now) {
                continue;  // expired: its slots are free
            }
            held[meter] += lease.slots_micros;
            body.append(first ? "{\"lease_id\":" : ",{\"lease_id\":");
            first = false;
            append_json_string(body, meter + ":" + std::string(lease.id));
            body.append(",\"meter\":");
            append_json_string(body, meter);
            body.append(",\"slots\":\"")
                .append(Decimal::from_micros(lease.slots_micros).to_string())
                .append("\",\"acquired_at\":\"")
                .append(format_rfc3339(lease.acquired_us))
                .append("\",\"expires_at\":\"")
                .append(format_rfc3339(lease.expires_us))
                .append("\"}");
        }
    }
    body.append("],\"meters\":[");
    first = true;
    if (served.plan != nullptr) {
        for (const MeterPlan& meter : served.plan->meters) {
            if (!meter.concurrency) {
                continue;
            }
            body.append(first ? "{\"meter\":" : ",{\"meter\":");
            first = false;
            append_json_string(body, meter.meter);
            const auto found = held.find(meter.meter);
            body.append(",\"held\":\"")
                .append(Decimal::from_micros(found == held.end() ? 0 : found->second).to_string())
                .append("\",\"limit\":\"")
                .append(std::to_string(meter.slots))
                .append("\"}");
        }
    }
    body.append("],");
    append_as_of(body);
    body.append("}");
    return json_ok(std::move(body));
}

HttpResponse QueryApi::dead_letters(const HttpRequest& request) const {
    if (!options_.read_dead_letters) {
        return json_error(503, "dead_letters_unavailable", "this process does not read Kafka");
    }
    for (const auto& [name, value] : request.query) {
        if (name != "reason" && name != "tenant" && name != "limit" && name != "cursor") {
            return json_error(400, "invalid_parameter",
                              "unknown parameter '" + name + "' (reason, tenant, limit, cursor)");
        }
    }
    DeadLetterQuery query;
    query.reason = std::string(request.query_param("reason").value_or(""));
    query.tenant = std::string(request.query_param("tenant").value_or(""));
    const std::string limit(request.query_param("limit").value_or("50"));
    if (limit.empty() || limit.size() > 4 ||
        !std::all_of(limit.begin(), limit.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(limit) < 1 || std::stoi(limit) > 1000) {
        return json_error(400, "invalid_parameter", "limit: 1 to 1000");
    }
    query.limit = static_cast<std::size_t>(std::stoi(limit));
    auto cursor = decode_dead_letter_cursor(request.query_param("cursor").value_or(""));
    if (!cursor) {
        return json_error(400, "invalid_parameter", "cursor: " + cursor.error());
    }
    query.cursor = std::move(cursor).value();
    auto page = options_.read_dead_letters(query);
    if (!page) {
        return json_error(503, "kafka_unavailable", page.error());
    }
    std::string body = "{\"dead_letters\":[";
    for (std::size_t index = 0; index < page->letters.size(); ++index) {
        body.append(index == 0 ? "" : ",").append(dead_letter_json(page->letters[index]));
    }
    body += "],\"next_cursor\":";
    append_json_string(body, encode_dead_letter_cursor(page->next));
    body += page->more ? ",\"more\":true}" : ",\"more\":false}";
    return json_ok(std::move(body));
}

HttpResponse QueryApi::credits(const std::string& tenant) const {
    auto view = projections_.credits(tenant);
    if (!view) {
        return json_error(500, "internal", view.error());
    }
    const std::int64_t now = options_.now_us();
    // As of now: what the next entry would find (a new month's allowance, expiries).
    const auto account = projections_.account(tenant);
    const BillingCalendar calendar = calendar_at(tenant, now);
    const AccountInForce in_force{account ? &*account : nullptr, calendar};
    Wallet wallet = view->wallet;
    if (const auto rule = credit_rule_of(plans_, in_force, kCreditGrantMeter, now)) {
        apply_wallet(wallet, *rule, CreditOp{true, "", "", 0, kNoExpiry, 0}, now);
    }
    std::vector<const CreditGrant*> grants;
    for (const CreditGrant& grant : wallet.grants) {
        grants.push_back(&grant);
    }
    std::sort(grants.begin(), grants.end(), [](const CreditGrant* left, const CreditGrant* right) {
        return std::tie(left->priority, left->expires_us, left->granted_us, left->id) <
               std::tie(right->priority, right->expires_us, right->granted_us, right->id);
    });
    auto decimal = [](std::int64_t micros) {
        return "\"" + Decimal::from_micros(micros).to_string() + "\"";
    };
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body += ",\"balance\":" + decimal(wallet_balance(wallet, now)) + ",\"grants\":[";
    for (std::size_t index = 0; index < grants.size(); ++index) {
        const CreditGrant& grant = *grants[index];
        body += index == 0 ? "{\"grant_id\":" : ",{\"grant_id\":";
        append_json_string(body, grant.id);
        body += ",\"source\":";
        append_json_string(body, grant.source);
        body += ",\"priority\":" + std::to_string(grant.priority) +
                ",\"amount\":" + decimal(grant.amount_micros) +
                ",\"remaining\":" + decimal(grant.remaining_micros) + ",\"granted_at\":\"" +
                format_rfc3339(grant.granted_us) + "\",\"expires_at\":" +
                (grant.expires_us == kNoExpiry ? std::string("null")
                                               : "\"" + format_rfc3339(grant.expires_us) + "\"") +
                ",\"allowance\":" + (grant.allowance ? "true" : "false") + "}";
    }
    body += "],\"transactions\":[";
    std::vector<std::string_view> lines;
    std::string_view rest = view->transactions;
    while (!rest.empty()) {
        const auto end = rest.find('\n');
        lines.push_back(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    }
    for (auto line = lines.rbegin(); line != lines.rend(); ++line) {
        body.append(line == lines.rbegin() ? "" : ",").append(*line);
    }
    body += "],";
    append_as_of(body);
    body += "}";
    return json_ok(std::move(body));
}

HttpResponse QueryApi::entitlement(const HttpRequest& request, const std::string& tenant,
                                   const std::string& meter) const {
    if (!valid_meter(meter)) {
        return json_error(400, "bad_meter", "a meter is 1-64 of [a-z0-9_.-]");
    }
    const std::string amount_text(request.query_param("amount").value_or("1"));
    const auto amount = Decimal::parse_quantity(amount_text);
    if (!amount) {
        return json_error(400, "bad_amount",
                          "amount must be a non-negative decimal with at most 6 fraction digits: " +
                              std::string(decimal_error_text(amount.error())));
    }
    const std::int64_t now = options_.now_us();
    const Period month = month_period(calendar_at(tenant, now), now);
    auto cell = projections_.cell(CounterKey{tenant, meter, WindowKind::month, month.start_us});
    if (!cell) {
        return json_error(500, "internal", cell.error());
    }
    const DecimalSum used = *cell ? (*cell)->sum : DecimalSum{};
    const ServedPlan served = served_plan(tenant, /*count=*/true);
    const std::string& plan_id = served.plan_id;
    const MeterPlan* meter_plan = served.plan == nullptr ? nullptr : served.plan->find(meter);
    if (meter_plan == nullptr) {
        probe_.unknown_meter_total.fetch_add(1, std::memory_order_relaxed);
    }
    // A meter the plan does not list is refused (no limit, nothing remaining) unless the policy
    // lets it through as unlimited (what ul::entitlement answers for it).
    const bool refused = meter_plan == nullptr && !options_.allow_unknown_meters;
    Entitlement answer;  // refused: not allowed, no limit, nothing remaining
    answer.used = used;
    answer.remaining = DecimalSum{};
    if (!refused) {
        auto computed = ul::entitlement(meter_plan, used, *amount);
        if (!computed) {
            return json_error(500, "overflow", computed.error());
        }
        answer = *computed;
    }
    std::string body = "{\"tenant_id\":";
    append_json_string(body, tenant);
    body.append(",\"meter\":");
    append_json_string(body, meter);
    body.append(",\"amount\":");
    append_decimal(body, *amount);
    body.append(",\"allowed\":").append(answer.allowed ? "true" : "false");
    if (refused) {
        body.append(",\"error\":\"unknown_meter\",\"detail\":");
        append_json_string(body, "plan " + plan_id + " does not list meter " + meter +
                                     " (the policy for unlisted meters is deny: "
                                     "--unknown-meters allow to let them through unmetered)");
    }
    body.append(",\"used\":");
    append_decimal(body, answer.used);
    body.append(",\"limit\":");
    if (answer.limit) {
        append_decimal(body, *answer.limit);
    } else {
        body.append("null");
    }
    body.append(",\"remaining\":");
    append_optional_decimal(body, answer.remaining);
    body.append(",\"unlimited\":").append(answer.unlimited ? "true" : "false");
    body.append(",\"known\":").append(served.account_known ? "true" : "false");
    body.append(",\"plan_known\":").append(served.plan_known ? "true" : "false");
    body.append(",\"period\":");
    append_period(body, month);
    body.append(",");
    append_as_of(body);
    body.append("}");
    return json_ok(std::move(body));
}

HttpResponse QueryApi::admin_tenants(const HttpRequest& /*request*/) const {
    auto tenants = projections_.tenants();
    if (!tenants) {
        return json_error(500, "internal", tenants.error());
    }
    std::set<std::string> all(tenants->begin(), tenants->end());
    for (const auto& account : projections_.accounts()) {
        all.insert(account.tenant_id);
    }
    const std::int64_t now = options_.now_us();
    std::string body = "{\"tenants\":[";
    bool first = true;
    for (const auto& tenant : all) {
        std::string plan_id;
        const Plan* plan = plan_of(tenant, &plan_id);
        const Period month = month_period(calendar_at(tenant, now), now);
        body.append(first ? "{\"tenant_id\":" : ",{\"tenant_id\":");
        first = false;
        append_json_string(body, tenant);
        body.append(",\"plan\":");
        append_json_string(body, plan_id);
        body.append(",\"period\":");
        append_period(body, month);
        body.append(",\"meters\":[");
        auto meters = projections_.meters(tenant);
        if (!meters) {
            return json_error(500, "internal", meters.error());
        }
        bool first_meter = true;
        for (const auto& meter : *meters) {
            auto cell =
                projections_.cell(CounterKey{tenant, meter, WindowKind::month, month.start_us});
            if (!cell) {
                return json_error(500, "internal", cell.error());
            }
            if (!*cell) {
                continue;
            }
            auto figures =
                quota_figures(plan == nullptr ? nullptr : plan->find(meter), (*cell)->sum);
            if (!figures) {
                return json_error(500, "overflow", figures.error());
            }
            body.append(first_meter ? "{\"meter\":" : ",{\"meter\":");
            first_meter = false;
            append_json_string(body, meter);
            body.append(",\"used\":");
            append_decimal(body, figures->used);
            body.append(",\"percentage\":");
            append_percentage(body, figures->percentage_milli);
            body.append(",\"unlimited\":").append(figures->unlimited ? "true" : "false");
            body.append(",\"is_blocked\":").append(figures->is_blocked ? "true" : "false");
            body.append("}");
        }
        body.append("]}");
    }
    body.append("],");
    append_as_of(body);
    body.append("}");
    return json_ok(std::move(body));
}

void QueryApi::tenant_route(HttpServer& server, std::string method, std::string pattern,
                            TenantHandler handler, std::uint8_t scope) {
    if (scope == 0) {
        scope = method == "GET" ? kScopeRead : kScopeAdmin;
    }
    server.route(std::move(method), std::move(pattern),
                 [this, scope, handler = std::move(handler)](
                     const HttpRequest& request, const std::map<std::string, std::string>& params) {
                     const std::string& tenant = params.at("tenant");
                     if (auto denied = authorize(request, &tenant, scope)) {
                         return *denied;
                     }
                     return handler(request, tenant, params);
                 });
}

void QueryApi::ingest_route(HttpServer& server, std::string method, const std::string& pattern,
                            bool admin_only, IngestHandler handler) {
    server.route_async(
        std::move(method), pattern,
        [this, admin_only, handler = std::move(handler)](
            const HttpRequest& request, const std::map<std::string, std::string>& params,
            HttpReply reply) {
            const std::string& tenant = params.at("tenant");
            if (auto denied = authorize(request, admin_only ? nullptr : &tenant, kScopeIngest)) {
                reply(*denied);
                return;
            }
            if (options_.ingest == nullptr) {
                reply(json_error(503, "ingest_unavailable", "this process does not ingest events"));
                return;
            }
            handler(*options_.ingest, request, tenant, params, std::move(reply));
        });
}

namespace {

// The dashboard's Content-Security-Policy (without frame-ancestors): same-origin fetches, its
// inline script by hash.
std::string dashboard_policy() {
    const std::string_view page = dashboard_html();
    const auto open = page.find("<script>");
    const auto close = page.find("</script>");
    UL_CHECK(open != std::string_view::npos && close > open, "dashboard.html has no <script>");
    const auto script = page.substr(open + 8, close - open - 8);
    return "default-src 'self'; script-src " + csp_sha256_source(script) +
           "; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri "
           "'none'; form-action 'none'";
}

}  // namespace

void QueryApi::install(HttpServer& server) {
    server_ = &server;
    using Params = std::map<std::string, std::string>;
    server.route("GET", "/healthz",
                 [this](const HttpRequest&, const Params&) { return healthz(); });
    server.route("GET", "/readyz", [this](const HttpRequest&, const Params&) { return readyz(); });
    server.route("GET", "/metrics",
                 [this](const HttpRequest&, const Params&) { return metrics(); });
    // The page's one inline script is allowed by its hash; its styles are inline too
    // ('unsafe-inline' for style-src: the page sets bar widths with style attributes, and CSS
    // cannot run script). The server appends frame-ancestors (HttpServerOptions).
    server.route("GET", "/", [policy = dashboard_policy()](const HttpRequest&, const Params&) {
        HttpResponse response;
        response.content_type = "text/html; charset=utf-8";
        response.body = std::string(dashboard_html());
        response.headers.emplace_back("Content-Security-Policy", policy);
        return response;
    });
    tenant_route(server, "GET", "/v1/tenants/{tenant}/usage",
                 [this](const HttpRequest& request, const std::string& tenant, const Params&) {
                     return usage(request, tenant);
                 });
    tenant_route(server, "GET", "/v1/tenants/{tenant}/usage/history",
                 [this](const HttpRequest& request, const std::string& tenant, const Params&) {
                     return history(request, tenant);
                 });
    tenant_route(
        server, "GET", "/v1/tenants/{tenant}/entitlements/{meter}",
        [this](const HttpRequest& request, const std::string& tenant, const Params& params) {
            return entitlement(request, tenant, params.at("meter"));
        });
    install_alerts(server);
    install_billing(server);
    install_accounts(server);
    server.route_async(
        "POST", "/v1/events", [this](const HttpRequest& request, const Params&, HttpReply reply) {
            auto principal = identify(request);
            if (!principal) {
                reply(principal.error());
                return;
            }
            if (auto refused = scope_refusal(*principal, kScopeIngest)) {
                reply(*refused);
                return;
            }
            if (options_.ingest == nullptr) {
                reply(json_error(503, "ingest_unavailable", "this process does not ingest events"));
                return;
            }
            options_.ingest->handle(
                request, principal->admin ? std::string() : principal->tenant_id, std::move(reply));
        });
    ingest_route(server, "POST", "/v1/tenants/{tenant}/consume", false,
                 [this](Ingest& ingest, const HttpRequest& request, const std::string& tenant,
                        const Params&, HttpReply reply) {
                     std::string plan_id;
                     plan_of(tenant, &plan_id);
                     ingest.consume(request, tenant, plan_id, std::move(reply));
                 });
    tenant_route(server, "GET", "/v1/tenants/{tenant}/credits",
                 [this](const HttpRequest&, const std::string& tenant, const Params&) {
                     return credits(tenant);
                 });
    ingest_route(server, "POST", "/v1/tenants/{tenant}/credits/grants", /*admin_only=*/true,
                 [this](Ingest& ingest, const HttpRequest& request, const std::string& tenant,
                        const Params&, HttpReply reply) {
                     if (!has_credits(plans_)) {
                         reply(json_error(409, "credits_not_enabled",
                                          "no plan gives or burns credits (monthly_credits, "
                                          "credits_per_unit): a grant would be spent nowhere"));
                         return;
                     }
                     ingest.grant_credits(request, tenant, std::move(reply));
                 });
    tenant_route(server, "GET", "/v1/tenants/{tenant}/leases",
                 [this](const HttpRequest&, const std::string& tenant, const Params&) {
                     return leases(tenant);
                 });
    ingest_route(server, "POST", "/v1/tenants/{tenant}/leases", false,
                 [this](Ingest& ingest, const HttpRequest& request, const std::string& tenant,
                        const Params&, HttpReply reply) {
                     std::string plan_id;
                     const Plan* plan = plan_of(tenant, &plan_id);
                     ingest.acquire_lease(request, tenant, plan_id, plan, std::move(reply));
                 });
    ingest_route(server, "DELETE", "/v1/tenants/{tenant}/leases/{lease_id}", false,
                 [this](Ingest& ingest, const HttpRequest&, const std::string& tenant,
                        const Params& params, HttpReply reply) {
                     ingest.release_lease(tenant, params.at("lease_id"), plan_of(tenant, nullptr),
                                          std::move(reply));
                 });
    server.route("GET", "/v1/whoami", [this](const HttpRequest& request, const Params&) {
        auto principal = identify(request);
        if (!principal) {
            return principal.error();
        }
        std::string body = "{\"admin\":";
        body.append(principal->admin ? "true" : "false").append(",\"tenant_id\":");
        if (principal->admin) {
            body.append("null,\"key_id\":null");
        } else {
            append_json_string(body, principal->tenant_id);
            body.append(",\"key_id\":");
            append_json_string(body, principal->key_id);
        }
        body.append(",\"scopes\":").append(scopes_json(principal->scopes)).append("}");
        return json_ok(std::move(body));
    });
    server.route("GET", "/v1/admin/dead-letters",
                 [this](const HttpRequest& request, const Params&) {
                     if (auto denied = authorize(request, nullptr)) {
                         return *denied;
                     }
                     return dead_letters(request);
                 });
    server.route("GET", "/v1/admin/tenants", [this](const HttpRequest& request, const Params&) {
        if (auto denied = authorize(request, nullptr)) {
            return *denied;
        }
        return admin_tenants(request);
    });
    install_jobs(server);
}

HttpResponse QueryApi::submit_job(const HttpRequest& request, std::string_view kind) {
    // POST /v1/admin/reconcile: a reconcile job whether or not the body names its kind.
    auto parsed = parse_job_request(request.body, kind);
    if (!parsed) {
        return json_error(400, "invalid_job", parsed.error());
    }
    if (!kind.empty() && parsed->kind != kind) {
        return json_error(400, "invalid_job", "this route starts " + std::string(kind) + " jobs");
    }
    auto job = options_.jobs->submit(std::move(parsed).value());
    if (!job) {
        return json_error(500, "internal", job.error());
    }
    HttpResponse response;
    response.status = 202;
    response.body = job_json(*job);
    response.headers.emplace_back("Location", "/v1/admin/jobs/" + job->id);
    return response;
}

HttpResponse QueryApi::list_jobs(const HttpRequest& request) const {
    const std::string kind(request.query_param("kind").value_or(""));
    const std::string status(request.query_param("status").value_or(""));
    if (!kind.empty() && kind != "reconcile" && kind != "verify") {
        return json_error(400, "invalid_parameter", "kind: reconcile or verify");
    }
    if (!status.empty() && status != "pending" && status != "running" && status != "completed" &&
        status != "failed" && status != "cancelled") {
        return json_error(400, "invalid_parameter",
                          "status: pending, running, completed, failed or cancelled");
    }
    std::string body = "{\"jobs\":[";
    bool first = true;
    for (const auto& job : options_.jobs->list(kind, status)) {
        body += first ? "" : ",";
        first = false;
        body += job_json(job);
    }
    body += "]}";
    return json_ok(std::move(body));
}

void QueryApi::install_jobs(HttpServer& server) {
    using Params = std::map<std::string, std::string>;
    // Admin only; 503 where this process keeps no jobs.
    auto admin = [this](const HttpRequest& request) -> std::optional<HttpResponse> {
        if (auto denied = authorize(request, nullptr)) {
            return denied;
        }
        if (options_.jobs == nullptr) {
            return json_error(503, "jobs_unavailable", "this process runs no jobs");
        }
        return std::nullopt;
    };
    server.route("POST", "/v1/admin/jobs",
                 [this, admin](const HttpRequest& request, const Params&) {
                     if (auto denied = admin(request)) {
                         return *denied;
                     }
                     return submit_job(request, "");
                 });
    server.route("POST", "/v1/admin/reconcile",
                 [this, admin](const HttpRequest& request, const Params&) {
                     if (auto denied = admin(request)) {
                         return *denied;
                     }
                     return submit_job(request, "reconcile");
                 });
    server.route("GET", "/v1/admin/jobs", [this, admin](const HttpRequest& request, const Params&) {
        if (auto denied = admin(request)) {
            return *denied;
        }
        return list_jobs(request);
    });
    server.route("GET", "/v1/admin/jobs/{id}",
                 [this, admin](const HttpRequest& request, const Params& params) {
                     if (auto denied = admin(request)) {
                         return *denied;
                     }
                     auto job = options_.jobs->get(params.at("id"));
                     if (!job) {
                         return json_error(404, "not_found", "no job " + params.at("id"));
                     }
                     return json_ok(job_json(*job));
                 });
    server.route("DELETE", "/v1/admin/jobs/{id}",
                 [this, admin](const HttpRequest& request, const Params& params) {
                     if (auto denied = admin(request)) {
                         return *denied;
                     }
                     auto job = options_.jobs->cancel(params.at("id"));
                     if (!job) {
                         return job.error() == "unknown"
                                    ? json_error(404, "not_found", "no job " + params.at("id"))
                                    : json_error(409, "job_finished", "the job has already ended");
                     }
                     return json_ok(job_json(*job));
                 });
}

}  // namespace ul
