// `usage-ledger emit`: produce usage events from JSON lines (stdin or --file) or from flags.
// Every line is validated first; invalid lines are reported (line number, reason) and never sent.
// The summary goes to stdout. Exit 0: every line valid (blank lines aside) and every event
// delivered; 1: an invalid line (unless --allow-invalid, which still wants at least one valid
// line when any line is non-blank), a delivery failure, or Kafka unreachable; 2: bad usage.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "consumers/kafka.h"
#include "ops/cli.h"
#include "ops/logging.h"
#include "producers/emitter.h"
#include "producers/line_reader.h"
#include "producers/usage_producer.h"
#include "producers/uuid.h"
#include "schemas/event.h"
#include "schemas/time.h"

namespace ul::ops {
namespace {

struct EmitArgs {
    KafkaOptions kafka;
    std::string file;
    bool dry_run = false;
    bool lenient = false;
    bool allow_invalid = false;
    std::int64_t max_event_age_us = ValidationOptions{}.max_event_age_us;
    std::string topic = "usage.events";
    int delivery_timeout_s = 30;
    int connect_timeout_s = 10;
    // One event from flags.
    std::string tenant, meter, quantity, subject, key, timestamp;
    std::vector<std::string> properties;  // KEY=VALUE, string values
};

bool from_flags(const EmitArgs& args) {
    return !args.tenant.empty() || !args.meter.empty() || !args.quantity.empty() ||
           !args.subject.empty() || !args.key.empty() || !args.timestamp.empty() ||
           !args.properties.empty();
}

// The one event given by flags, as a JSON line (key made as a UUIDv7, time = now, if not given).
std::string event_line_from_flags(const EmitArgs& args, std::int64_t now_us) {
    if (args.tenant.empty() || args.meter.empty() || args.quantity.empty()) {
        throw UsageError("emit: one event from flags needs --tenant, --meter and --quantity");
    }
    std::string line = "{\"idempotency_key\":\"";
    append_json_escaped(line, args.key.empty() ? UuidV7Generator().next() : args.key);
    line += "\",\"tenant_id\":\"";
    append_json_escaped(line, args.tenant);
    if (!args.subject.empty()) {
        line += "\",\"subject\":\"";
        append_json_escaped(line, args.subject);
    }
    line += "\",\"meter\":\"";
    append_json_escaped(line, args.meter);
    line += "\",\"quantity\":\"";
    append_json_escaped(line, args.quantity);
    line += "\",\"timestamp\":\"";
    append_json_escaped(line, args.timestamp.empty() ? format_rfc3339(now_us) : args.timestamp);
    line += '"';
    if (!args.properties.empty()) {
        line += ",\"properties\":{";
        for (std::size_t index = 0; index < args.properties.size(); ++index) {
            const std::string& pair = args.properties[index];
            const auto equals = pair.find('=');  // checked by the option's validator
            line += index == 0 ? "\"" : ",\"";
            append_json_escaped(line, std::string_view(pair).substr(0, equals));
            line += "\":\"";
            append_json_escaped(line, std::string_view(pair).substr(equals + 1));
            line += '"';
        }
        line += '}';
    }
    line += "}\n";
    return line;
}

// An fd to read the input from: --file, stdin, or an in-memory file holding the flags' event.
int open_input(const EmitArgs& args, std::int64_t now_us) {
    if (from_flags(args)) {
        if (!args.file.empty()) {
            throw UsageError("emit: give either --file or one event by flags, not both");
        }
        const std::string line = event_line_from_flags(args, now_us);
        const int fd = ::memfd_create("emit-flags", MFD_CLOEXEC);
        if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
            ::lseek(fd, 0, SEEK_SET) != 0) {
            throw std::runtime_error("cannot buffer the event from flags");
        }
        return fd;
    }
    if (args.file.empty() || args.file == "-") {
        return ::dup(0);
    }
    const int fd = ::open(args.file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw UsageError("emit: cannot open " + args.file);
    }
    return fd;
}

class InvalidLineReporter {
  public:
    explicit InvalidLineReporter(bool json) : json_(json) {}
    void report(const Line& line, Reason reason, std::string_view detail) {
        text_.clear();
        if (json_) {
            text_ += "{\"line\":" + std::to_string(line.number) + ",\"reason\":\"";
            text_ += reason_code(reason);
            text_ += "\",\"detail\":\"";
            append_json_escaped(text_, detail);
            text_ += "\"}\n";
        } else {
            text_ += "line " + std::to_string(line.number) + ": ";
            text_ += reason_code(reason);
            text_ += ": ";
            text_ += detail;
            text_ += '\n';
        }
        std::fwrite(text_.data(), 1, text_.size(), stderr);
    }

  private:
    bool json_;
    std::string text_;
};

// Whether the invalid lines make the run a failure: any of them without --allow-invalid; with
// it, only when no line at all was valid (the wrong file, most likely).
bool invalid_lines_fail(const EmitSummary& summary, bool allow_invalid) {
    if (summary.invalid == 0) {
        return false;
    }
    return !allow_invalid || summary.valid == 0;
}

int run_emit(const EmitArgs& args, bool json_logs) {
    const std::int64_t start_us = system_now_us();
    const int fd = open_input(args, start_us);
    LineReader reader(fd, kMaxEventBytes);
    EventValidator validator(
        ValidationOptions{.strict = !args.lenient, .max_event_age_us = args.max_event_age_us});

    std::unique_ptr<UsageProducer> producer;
    std::string bootstrap;
    if (!args.dry_run) {
        bootstrap = resolve_bootstrap_or_throw(args.kafka);
        ProducerOptions options;
        options.bootstrap = bootstrap;
        options.extra_config = kafka_settings_or_throw(args.kafka);
        options.topic = args.topic;
        options.delivery_timeout_ms = args.delivery_timeout_s * 1000;
        options.on_raw_delivery = [](const DeliveryReport& report) {
            if (!report.ok) {
                spdlog::error("emit: line {} not delivered: {}", report.token, report.error);
            }
        };
        auto created = UsageProducer::create(options);
        if (!created) {
            spdlog::error("emit: {}", created.error());
            ::close(fd);
            return kExitFailure;
        }
        producer = std::move(created).value();
        auto reachable = producer->wait_for_cluster(args.connect_timeout_s * 1000);
        if (!reachable) {
            spdlog::error("emit: {}", reachable.error());
            ::close(fd);
            return kExitFailure;
        }
    }

    InvalidLineReporter reporter(json_logs);
    std::uint64_t send_errors = 0;
    const auto started = std::chrono::steady_clock::now();
    EmitHooks hooks;
    hooks.now_us = system_now_us;
    hooks.on_invalid = [&reporter](const Line& line, Reason reason, std::string_view detail) {
        reporter.report(line, reason, detail);
    };
    hooks.on_progress = [&started, &producer](const EmitSummary& summary) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        spdlog::info("emit: {} lines ({} valid, {} invalid), {:.0f} lines/s{}", summary.lines,
                     summary.valid, summary.invalid, summary.lines / std::max(seconds, 1e-9),
                     producer ? fmt::format(", {} delivered", producer->delivered()) : "");
    };
    if (producer) {
        hooks.on_valid = [&producer, &send_errors](const Line& line, const UsageEvent& event) {
            while (true) {
                auto sent = producer->produce_raw(event.tenant_id, line.text, line.number);
                if (sent) {
                    producer->poll(0);
                    return true;
                }
                if (sent.error().code == ProduceErrorCode::queue_full) {
                    producer->poll(10);  // back-pressure: wait for deliveries to make room
                    continue;
                }
                spdlog::error("emit: line {} not sent: {}", line.number, sent.error().detail);
                ++send_errors;
                return true;
            }
        };
    }
    auto summary = run_emitter(reader, validator, hooks);
    ::close(fd);
    if (!summary) {
        spdlog::error("emit: {}", summary.error());
        return kExitFailure;
    }

    bool delivered_all = true;
    if (producer) {
        auto flushed = producer->flush(args.delivery_timeout_s * 1000 + 5000);
        if (!flushed) {
            spdlog::error("emit: {}", flushed.error());
            delivered_all = false;
        }
        delivered_all = delivered_all && send_errors == 0 && producer->failed() == 0 &&
                        producer->delivered() == summary->valid;
    }
    std::string out;
    append_summary_json(*summary, out);
    const bool invalid_refused = invalid_lines_fail(*summary, args.allow_invalid);
    if (producer) {
        out.pop_back();
        out += ",\"delivered\":" + std::to_string(producer->delivered());
        out += ",\"failed\":" + std::to_string(summary->valid - producer->delivered()) + "}";
    }
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (!delivered_all) {
        spdlog::error("emit: {} of {} valid events were not delivered to {}",
                      summary->valid - producer->delivered(), summary->valid, bootstrap);
        return kExitFailure;
    }
    if (invalid_refused) {
        if (summary->valid == 0) {
            spdlog::error("emit: every line ({}) is invalid; nothing was {}", summary->invalid,
                          producer ? "sent" : "valid");
        } else {
            spdlog::error(
                "emit: {} of {} lines are invalid (not sent); the {} valid ones were {} "
                "(give --allow-invalid to exit 0 then)",
                summary->invalid, summary->valid + summary->invalid, summary->valid,
                producer ? "delivered" : "validated");
        }
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace

void add_emit_command(CLI::App& app, CommandRunner& run) {
    auto args = std::make_shared<EmitArgs>();
    auto* command = app.add_subcommand(
        "emit",
        "Produce usage events: JSON lines from stdin or --file, or one event from flags.\n"
        "Every line is validated first; invalid lines are reported on stderr (line number,\n"
        "reason, detail) and never sent. The summary is printed as JSON on stdout.\n"
        "Exit status: 0 every line valid and every event delivered (or validated, --dry-run);\n"
        "1 some line invalid (with --allow-invalid: only when no line is valid) or some valid\n"
        "event not delivered, or Kafka unreachable; 2 usage error.\n"
        "Note: the embedded broker is a buffer, not a store; run the ledger beside it\n"
        "(usage-ledger up) so it drains continuously.");
    add_kafka_options(*command, args->kafka);
    command->add_option("--file", args->file, "JSON-lines file to send ('-' or none: stdin)")
        ->check(CLI::Validator(
            [](const std::string& path) {
                return path == "-" || std::filesystem::is_regular_file(path)
                           ? std::string()
                           : "no such file: " + path;
            },
            "FILE"));
    command->add_flag("--dry-run", args->dry_run,
                      "Validate only; print {lines, valid, invalid, invalid_by_reason}");
    command->add_flag("--allow-invalid", args->allow_invalid,
                      "Exit 0 despite invalid lines, as long as some line is valid and every "
                      "valid event is delivered (invalid lines are still reported, never sent)");
    command->add_flag("--lenient", args->lenient,
                      "Accept unknown top-level fields (default: strict, they are invalid)");
    add_max_event_age_option(*command, args->max_event_age_us);
    command->add_option("--topic", args->topic, "Topic to produce to")->capture_default_str();
    command
        ->add_option("--delivery-timeout", args->delivery_timeout_s,
                     "Seconds a message may wait for delivery before it counts as failed")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    command
        ->add_option("--connect-timeout", args->connect_timeout_s,
                     "Seconds to wait for the Kafka cluster to answer at start")
        ->check(CLI::Range(1, 600))
        ->capture_default_str();
    auto* flags = "One event from flags";
    command->add_option("--tenant", args->tenant, "tenant_id")->group(flags);
    command->add_option("--meter", args->meter, "meter")->group(flags);
    command->add_option("--quantity", args->quantity, "quantity, exact decimal")->group(flags);
    command->add_option("--subject", args->subject, "subject (optional)")->group(flags);
    command->add_option("--key", args->key, "idempotency_key (default: a new UUIDv7)")
        ->group(flags);
    command->add_option("--timestamp", args->timestamp, "RFC 3339 event time (default: now)")
        ->group(flags);
    command
        ->add_option("--property", args->properties,
                     "A property, KEY=VALUE (a string value), repeatable: e.g. --property "
                     "model=gpt-4o")
        ->group(flags)
        ->check(CLI::Validator(
            [](std::string& pair) -> std::string {
                const auto equals = pair.find('=');
                if (equals == std::string::npos || equals == 0) {
                    return "expected KEY=VALUE, got '" + pair + "'";
                }
                return {};
            },
            "KEY=VALUE"));
    command->callback([args, &app, &run] {
        const bool json_logs = app.get_option("--log-format")->as<std::string>() == "json";
        if (from_flags(*args) &&
            (args->tenant.empty() || args->meter.empty() || args->quantity.empty())) {
            throw CLI::ValidationError(
                "emit", "one event from flags needs --tenant, --meter and --quantity");
        }
        for (std::size_t index = 0; index < args->properties.size(); ++index) {
            const std::string key =
                args->properties[index].substr(0, args->properties[index].find('='));
            for (std::size_t earlier = 0; earlier < index; ++earlier) {
                if (args->properties[earlier].substr(0, args->properties[earlier].find('=')) ==
                    key) {
                    throw CLI::ValidationError("--property", "property '" + key + "' given twice");
                }
            }
        }
        if (from_flags(*args) && !args->file.empty()) {
            throw CLI::ValidationError("emit",
                                       "give either --file or one event by flags, not both");
        }
        run = [args, json_logs] { return run_emit(*args, json_logs); };
    });
}

}  // namespace ul::ops
