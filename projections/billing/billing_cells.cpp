#include "projections/billing/billing_cells.h"

#include <limits>

#include "schemas/canonical.h"

namespace ul {
namespace {

void append_time(std::string& out, std::int64_t t_us) {
    const auto bits = static_cast<std::uint64_t>(t_us) ^ (1ULL << 63U);  // signed order
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((bits >> static_cast<unsigned>(shift)) & 0xFFU));
    }
}

std::int64_t read_time(const char* in) {
    std::uint64_t bits = 0;
    for (int index = 0; index < 8; ++index) {
        bits = (bits << 8U) | static_cast<unsigned char>(in[index]);
    }
    return static_cast<std::int64_t>(bits ^ (1ULL << 63U));
}

// The next '\0'-ended part of `rest`, or false.
bool take_part(std::string_view& rest, std::string& part) {
    const auto end = rest.find('\0');
    if (end == std::string_view::npos) {
        return false;
    }
    part.assign(rest.substr(0, end));
    rest.remove_prefix(end + 1);
    return true;
}

std::string hash_hex(std::string_view cell_key, std::uint64_t n) {
    std::string text(cell_key);
    text.push_back('\0');
    text += std::to_string(n);
    return to_hex(hash_bytes(text));
}

}  // namespace

void append_billing_key(const BillingCellKey& key, std::string& out) {
    append_billing_key(key.tenant_id, key.meter, key.customer, key.event_name, key.unit, key.period,
                       out);
}

void append_billing_key(std::string_view tenant_id, std::string_view meter,
                        std::string_view customer, std::string_view event_name, Decimal unit,
                        const Period& period, std::string& out) {
    out.append(tenant_id).push_back('\0');
    out.append(meter).push_back('\0');
    out.append(customer).push_back('\0');
    out.append(event_name).push_back('\0');
    char digits[Decimal::kFormatBytes];
    out.append(digits, unit.format(digits)).push_back('\0');
    append_time(out, period.start_us);
    append_time(out, period.end_us);
}

std::string billing_key(const BillingCellKey& key) {
    std::string out;
    append_billing_key(key, out);
    return out;
}

Result<BillingCellKey, std::string> decode_billing_key(std::string_view bytes) {
    BillingCellKey key;
    std::string unit;
    std::string_view rest = bytes;
    if (!take_part(rest, key.tenant_id) || !take_part(rest, key.meter) ||
        !take_part(rest, key.customer) || !take_part(rest, key.event_name) ||
        !take_part(rest, unit) || rest.size() != 16) {
        return unexpected(std::string("not a billing key"));
    }
    auto parsed = Decimal::parse_quantity(unit);
    if (!parsed) {
        return unexpected(std::string("not a billing key: bad unit"));
    }
    key.unit = *parsed;
    key.period = {read_time(rest.data()), read_time(rest.data() + 8)};
    return key;
}

std::string billing_prefix(std::string_view tenant_id) {
    std::string out(tenant_id);
    out.push_back('\0');
    return out;
}

std::optional<StripeMeterRef> stripe_meter_for(const PlanBook& plans, const Account* account,
                                               std::string_view meter) {
    if (account == nullptr || account->stripe_customer_id.empty()) {
        return std::nullopt;
    }
    const Plan* plan = plans.find(account->plan);
    const MeterPlan* meter_plan = plan != nullptr ? plan->find(meter) : nullptr;
    if (meter_plan == nullptr || meter_plan->stripe_event_name.empty()) {
        return std::nullopt;
    }
    return StripeMeterRef{account->stripe_customer_id, meter_plan->stripe_event_name,
                          meter_plan->stripe_unit};
}

Result<std::int64_t, std::string> stripe_units(const DecimalSum& used, Decimal unit) {
    if (unit.micros() <= 0) {
        return unexpected(std::string("stripe_unit must be > 0"));
    }
    if (used.micros() < 0) {
        return unexpected("usage is negative (" + used.to_string() + ")");
    }
    const __int128 units = used.micros() / unit.micros();  // floor: both are >= 0
    if (units > std::numeric_limits<std::int64_t>::max()) {
        return unexpected("usage " + used.to_string() + " is more Stripe units than fit 64 bits");
    }
    return static_cast<std::int64_t>(units);
}

ReportDecision decide_report(std::int64_t target, std::int64_t decided, const Period& period,
                             std::int64_t now_s, std::int64_t grace_s, std::int64_t margin_s) {
    ReportDecision decision;
    if (target <= decided) {
        return decision;
    }
    const std::int64_t start_s = (period.start_us + 999'999) / 1'000'000;  // inside the period
    const std::int64_t last_s = (period.end_us - 1) / 1'000'000;
    const bool open = now_s <= last_s;
    if (open && start_s > now_s) {
        return decision;  // a period ahead of the clock (future events): wait until it begins
    }
    if (!open && now_s < last_s + 1 + grace_s) {
        return decision;  // closed, in its grace: wait for stragglers, then report once
    }
    decision.value = target - decided;
    decision.timestamp_s = open ? std::max(now_s, start_s) : last_s;
    if (decision.timestamp_s < now_s - kStripeMaxAgeSeconds + margin_s) {
        decision.kind = ReportDecision::Kind::unreportable;
        decision.reason =
            "the period ended more than 35 days ago (Stripe refuses meter events "
            "older than 35 days)";
        return decision;
    }
    decision.kind = ReportDecision::Kind::report;
    return decision;
}

bool inside_stripe_window(std::int64_t timestamp_s, std::int64_t now_s) {
    return timestamp_s >= now_s - kStripeMaxAgeSeconds + 60 && timestamp_s <= now_s + 300;
}

std::string report_identifier(std::string_view cell_key, std::uint64_t n) {
    return "ulb_" + hash_hex(cell_key, n);
}

std::string report_idempotency_key(std::string_view cell_key, std::uint64_t n) {
    return "ul-billing-" + hash_hex(cell_key, n);
}

}  // namespace ul
