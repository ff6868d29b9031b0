#include "schemas/plans.h"

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace ul {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

using Error = std::string;

Result<Decimal, Error> decimal_at(element value, const std::string& path) {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) {
        return unexpected(path + ": must be a decimal string such as \"1000\" or \"0.25\"");
    }
    auto parsed = Decimal::parse_quantity(text);
    if (!parsed) {
        return unexpected(path + ": " + std::string(decimal_error_text(parsed.error())) + " ('" +
                          std::string(text) + "')");
    }
    return *parsed;
}

Result<std::string, Error> string_at(element value, const std::string& path) {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) {
        return unexpected(path + ": must be a string");
    }
    return std::string(text);
}

Result<std::vector<Decimal>, Error> thresholds_at(element value, const std::string& path) {
    simdjson::dom::array array;
    if (value.get_array().get(array) != simdjson::SUCCESS) {
        return unexpected(path + ": must be an array of decimal strings");
    }
    std::vector<Decimal> out;
    std::size_t index = 0;
    for (const element item : array) {
        const std::string item_path = path + "[" + std::to_string(index++) + "]";
        auto threshold = decimal_at(item, item_path);
        if (!threshold) {
            return unexpected(threshold.error());
        }
        if (threshold->micros() <= 0 || threshold->micros() > 10 * Decimal::kMicrosPerUnit) {
            return unexpected(item_path + ": a threshold is a fraction of the limit in (0, 10]");
        }
        if (!out.empty() && !(out.back() < *threshold)) {
            return unexpected(path + ": thresholds must be strictly ascending");
        }
        out.push_back(*threshold);
    }
    if (out.empty()) {
        return unexpected(path + ": must not be empty");
    }
    return out;
}

bool meter_name_ok(std::string_view meter) {
    return !meter.empty() && meter.size() <= 64 &&
           std::all_of(meter.begin(), meter.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                      c == '-';
           });
}

bool stripe_name_ok(std::string_view name) {
    return !name.empty() && name.size() <= 100 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == ':' || c == '-';
    });
}

Result<MeterPlan, Error> meter_at(std::string_view name, element value, const std::string& path,
                                  const std::vector<Decimal>& inherited) {
    if (!meter_name_ok(name)) {
        return unexpected(path + ": a meter name is 1-64 of [a-z0-9_.-]");
    }
    object fields;
    if (value.get_object().get(fields) != simdjson::SUCCESS) {
        return unexpected(path + ": must be an object");
    }
    MeterPlan meter;
    meter.meter = std::string(name);
    meter.thresholds = inherited;
    bool has_limit = false;
    bool has_unit = false;
    for (const auto field : fields) {
        const std::string field_path = path + "." + std::string(field.key);
        if (field.key == "limit") {
            has_limit = true;
            if (field.value.is_null()) {
                continue;
            }
            std::string_view ignored;
            if (field.value.get_string().get(ignored) != simdjson::SUCCESS) {
                return unexpected(field_path + ": must be a decimal string or null");
            }
            auto limit = decimal_at(field.value, field_path);
            if (!limit) {
                return unexpected(limit.error());
            }
            meter.limit = *limit;
        } else if (field.key == "overage_unit_price") {
            auto price = decimal_at(field.value, field_path);
            if (!price) {
                return unexpected(price.error());
            }
            meter.overage_unit_price = *price;
        } else if (field.key == "thresholds") {
            auto thresholds = thresholds_at(field.value, field_path);
            if (!thresholds) {
                return unexpected(thresholds.error());
            }
            meter.thresholds = *thresholds;
        } else if (field.key == "stripe_event_name") {
            auto event_name = string_at(field.value, field_path);
            if (!event_name || !stripe_name_ok(*event_name)) {
                return unexpected(field_path +
                                  ": a Stripe meter event name is 1-100 of [A-Za-z0-9_.:-]");
            }
            meter.stripe_event_name = *event_name;
        } else if (field.key == "enforcement") {
            auto enforcement = string_at(field.value, field_path);
            if (!enforcement || (*enforcement != "hard" && *enforcement != "soft")) {
                return unexpected(field_path + ": must be \"hard\" or \"soft\"");
            }
            meter.hard = *enforcement == "hard";
        } else if (field.key == "credits_per_unit") {
            auto rate = decimal_at(field.value, field_path);
            if (!rate) {
                return unexpected(rate.error());
            }
            meter.credits_per_unit = *rate;
        } else if (field.key == "kind") {
            auto kind = string_at(field.value, field_path);
            if (!kind || (*kind != "sum" && *kind != "concurrency")) {
                return unexpected(field_path + ": must be \"sum\" or \"concurrency\"");
            }
            meter.concurrency = *kind == "concurrency";
        } else if (field.key == "stripe_unit") {
            auto unit = decimal_at(field.value, field_path);
            if (!unit) {
                return unexpected(unit.error());
            }
            if (unit->micros() <= 0) {
                return unexpected(field_path + ": must be more than 0");
            }
            meter.stripe_unit = *unit;
            has_unit = true;
        } else {
            return unexpected(field_path + ": unknown field");
        }
    }
    if (!has_limit) {
        return unexpected(path + ".limit: required (a decimal string, or null for unlimited)");
    }
    if (meter.hard && meter.limit && meter.credits_per_unit.micros() != 0) {
        return unexpected(path +
                          ": a hard meter is enforced by its limit or by credits, not both (a "
                          "hard meter with credits_per_unit has \"limit\": null)");
    }
    if (meter.hard && !meter.limit && meter.credits_per_unit.micros() == 0) {
        return unexpected(path +
                          ".enforcement: \"hard\" needs a limit or credits_per_unit (this meter "
                          "is unlimited)");
    }
    if (meter.concurrency) {
        // Slots held at once, not a monthly total: nothing to alert on, bill or carry over.
        if (!meter.limit || meter.limit->micros() % Decimal::kMicrosPerUnit != 0) {
            return unexpected(path + ".limit: a concurrency meter needs a whole number of slots");
        }
        if (!meter.stripe_event_name.empty() || meter.overage_unit_price.micros() != 0 ||
            meter.credits_per_unit.micros() != 0) {
            return unexpected(
                path + ": a concurrency meter has no overage price, Stripe meter or credits");
        }
        // Decided by the ledger's lease cells, not by a period total: for the monthly figures
        // (usage, alerts, billing) the meter is unlimited, its total the slots taken.
        meter.slots = meter.limit->micros() / Decimal::kMicrosPerUnit;
        meter.limit.reset();
        meter.thresholds.clear();
        meter.hard = false;
    }
    if (has_unit && meter.stripe_event_name.empty()) {
        return unexpected(path + ".stripe_unit: needs stripe_event_name");
    }
    return meter;
}

}  // namespace

const MeterPlan* Plan::find(std::string_view meter) const {
    for (const auto& candidate : meters) {
        if (candidate.meter == meter) {
            return &candidate;
        }
    }
    return nullptr;
}

const Plan* PlanBook::find_by_stripe_price(std::string_view price_id) const {
    if (price_id.empty()) {
        return nullptr;
    }
    for (const auto& plan : plans) {
        if (plan.stripe_price_id == price_id) {
            return &plan;
        }
    }
    return nullptr;
}

const Plan* PlanBook::find(std::string_view plan_id) const {
    for (const auto& plan : plans) {
        if (plan.id == plan_id) {
            return &plan;
        }
    }
    return nullptr;
}

Result<PlanBook, std::string> parse_plans(std::string_view json) {
    simdjson::dom::parser parser;
    element document;
    if (const auto error = parser.parse(json.data(), json.size()).get(document);
        error != simdjson::SUCCESS) {
        return unexpected(std::string("not JSON: ") + simdjson::error_message(error));
    }
    object root;
    if (document.get_object().get(root) != simdjson::SUCCESS) {
        return unexpected(std::string("the plans file must be a JSON object"));
    }
    PlanBook book;
    std::vector<Decimal> thresholds = {Decimal::from_micros(800'000), Decimal::from_micros(950'000),
                                       Decimal::from_micros(1'000'000)};
    element plans_value;
    bool has_plans = false;
    for (const auto field : root) {
        const std::string path(field.key);
        if (field.key == "currency") {
            auto currency = string_at(field.value, path);
            if (!currency) {
                return unexpected(currency.error());
            }
            book.currency = *currency;
        } else if (field.key == "default_plan") {
            auto plan = string_at(field.value, path);
            if (!plan) {
                return unexpected(plan.error());
            }
            book.default_plan = *plan;
        } else if (field.key == "thresholds") {
            auto parsed = thresholds_at(field.value, path);
            if (!parsed) {
                return unexpected(parsed.error());
            }
            thresholds = *parsed;
        } else if (field.key == "group_by") {
            object meters;
            if (field.value.get_object().get(meters) != simdjson::SUCCESS) {
                return unexpected(path + ": must be an object of meter → [property, …]");
            }
            for (const auto meter : meters) {
                const std::string meter_path = path + "." + std::string(meter.key);
                simdjson::dom::array properties;
                if (!meter_name_ok(meter.key) ||
                    meter.value.get_array().get(properties) != simdjson::SUCCESS) {
                    return unexpected(meter_path + ": a meter name → an array of property names");
                }
                auto& list = book.group_by[std::string(meter.key)];
                for (const element property : properties) {
                    auto name = string_at(property, meter_path + "[]");
                    if (!name || name->empty() || name->size() > 64) {
                        return unexpected(meter_path + ": property names are 1-64 byte strings");
                    }
                    list.push_back(*name);
                }
            }
        } else if (field.key == "plans") {
            plans_value = field.value;
            has_plans = true;
        } else {
            return unexpected(path + ": unknown field");
        }
    }
    if (!has_plans) {
        return unexpected(std::string("plans: required"));
    }
    simdjson::dom::array plans;
    if (plans_value.get_array().get(plans) != simdjson::SUCCESS) {
        return unexpected(std::string("plans: must be an array"));
    }
    std::set<std::string> ids;
    std::size_t index = 0;
    for (const element plan_value : plans) {
        const std::string path = "plans[" + std::to_string(index++) + "]";
        object fields;
        if (plan_value.get_object().get(fields) != simdjson::SUCCESS) {
            return unexpected(path + ": must be an object");
        }
        Plan plan;
        std::vector<Decimal> plan_thresholds = thresholds;
        element meters_value;
        bool has_meters = false;
        for (const auto field : fields) {
            const std::string field_path = path + "." + std::string(field.key);
            if (field.key == "id") {
                auto id = string_at(field.value, field_path);
                if (!id || id->empty() || id->size() > 64) {
                    return unexpected(field_path + ": a plan id is a 1-64 byte string");
                }
                plan.id = *id;
            } else if (field.key == "name") {
                auto name = string_at(field.value, field_path);
                if (!name) {
                    return unexpected(name.error());
                }
                plan.name = *name;
            } else if (field.key == "thresholds") {
                auto parsed = thresholds_at(field.value, field_path);
                if (!parsed) {
                    return unexpected(parsed.error());
                }
                plan_thresholds = *parsed;
            } else if (field.key == "stripe_price_id") {
                auto price = string_at(field.value, field_path);
                if (!price || price->empty() || price->size() > 255) {
                    return unexpected(field_path + ": a Stripe price id is a 1-255 byte string");
                }
                if (book.find_by_stripe_price(*price) != nullptr) {
                    return unexpected(field_path + ": price '" + *price +
                                      "' belongs to another plan already");
                }
                plan.stripe_price_id = *price;
            } else if (field.key == "monthly_credits" || field.key == "rollover_cap") {
                auto amount = decimal_at(field.value, field_path);
                if (!amount) {
                    return unexpected(amount.error());
                }
                (field.key == "monthly_credits" ? plan.monthly_credits : plan.rollover_cap) =
                    *amount;
            } else if (field.key == "meters") {
                meters_value = field.value;
                has_meters = true;
            } else {
                return unexpected(field_path + ": unknown field");
            }
        }
        if (plan.id.empty()) {
            return unexpected(path + ".id: required");
        }
        if (plan.rollover_cap.micros() > 0 && plan.monthly_credits.micros() == 0) {
            return unexpected(path + ".rollover_cap: needs monthly_credits");
        }
        if (!ids.insert(plan.id).second) {
            return unexpected(path + ".id: plan '" + plan.id + "' is defined twice");
        }
        if (!has_meters) {
            return unexpected(path + ".meters: required");
        }
        object meters;
        if (meters_value.get_object().get(meters) != simdjson::SUCCESS) {
            return unexpected(path + ".meters: must be an object of meter → limits");
        }
        for (const auto meter : meters) {
            auto parsed = meter_at(meter.key, meter.value,
                                   path + ".meters." + std::string(meter.key), plan_thresholds);
            if (!parsed) {
                return unexpected(parsed.error());
            }
            plan.meters.push_back(std::move(parsed).value());
        }
        book.plans.push_back(std::move(plan));
    }
    if (book.plans.empty()) {
        return unexpected(std::string("plans: must hold at least one plan"));
    }
    if (book.default_plan.empty()) {
        return unexpected(std::string("default_plan: required"));
    }
    if (book.find(book.default_plan) == nullptr) {
        return unexpected("default_plan: '" + book.default_plan + "' is not one of the plans");
    }
    if (book.currency.empty()) {
        book.currency = "usd";
    }
    return book;
}

Result<PlanBook, std::string> load_plans(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return unexpected("cannot read " + path + ": " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto plans = parse_plans(text.str());
    if (!plans) {
        return unexpected(path + ": " + plans.error());
    }
    return plans;
}

}  // namespace ul
