// `usage-ledger bench`: throughput harness. Figures are measured here, never asserted in tests.
// `bench validate`: the emit --dry-run path (read lines + parse + validate) on one core, beside
// the raw line-reading rate of the same file in the same run.
#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "ops/bench_commands.h"
#include "ops/cli.h"
#include "producers/emitter.h"
#include "producers/line_reader.h"
#include "schemas/event.h"
#include "schemas/time.h"

namespace ul::ops {
namespace {

struct BenchValidateArgs {
    std::uint64_t lines = 1'000'000;
    std::string file;  // an existing JSON-lines file; default: generate one
    std::uint64_t seed = 0;
    double invalid_percent = 5.0;
};

// About 200-byte events; `invalid_percent` of them break one rule (a bad quantity).
void generate_events(const std::string& path, const BenchValidateArgs& args, std::int64_t now_us) {
    std::mt19937_64 random(args.seed);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    std::string line;
    static constexpr const char* kMeters[] = {"api_calls", "tokens", "audio_minutes", "scans"};
    static constexpr const char* kQuantities[] = {"1", "1500", "\"0.25\"", "42", "\"3.5\""};
    for (std::uint64_t index = 0; index < args.lines; ++index) {
        const bool invalid = static_cast<double>(random() % 10000) < args.invalid_percent * 100.0;
        const std::int64_t when_us =
            now_us - static_cast<std::int64_t>(random() % 86'400'000'000ULL) - 1'000'000;
        line = "{\"idempotency_key\":\"req-" + std::to_string(index) + "-" +
               std::to_string(random() % 1'000'000'000) + "\",\"tenant_id\":\"tenant-" +
               std::to_string(random() % 1000) + "\",\"subject\":\"user-" +
               std::to_string(random() % 100000) + "\",\"meter\":\"" + kMeters[index % 4] +
               "\",\"quantity\":" + (invalid ? "\"1.1234567\"" : kQuantities[index % 5]) +
               ",\"timestamp\":\"" + format_rfc3339(when_us) +
               "\",\"properties\":{\"model\":\"gpt-x\",\"region\":\"eu\"}}\n";
        out << line;
    }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run_bench_validate(BenchValidateArgs args) {
    if (args.seed == 0) {
        args.seed = std::random_device{}();
    }
    const std::int64_t now_us = system_now_us();
    std::string path = args.file;
    bool generated = false;
    if (path.empty()) {
        path = (std::filesystem::temp_directory_path() /
                ("usage-ledger-bench-" + std::to_string(::getpid()) + ".jsonl"))
                   .string();
        spdlog::info("bench validate: generating {} lines (seed {}) into {}", args.lines, args.seed,
                     path);
        generate_events(path, args, now_us);
        generated = true;
    }
    // Raw: read and split the file into lines, nothing else.
    std::uint64_t raw_lines = 0;
    double raw_seconds = 0;
    {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        LineReader reader(fd, kMaxEventBytes);
        Line line;
        const auto start = std::chrono::steady_clock::now();
        while (true) {
            auto more = reader.next(line);
            if (!more || !*more) {
                break;
            }
            ++raw_lines;
        }
        raw_seconds = seconds_since(start);
        ::close(fd);
    }
    // The emit --dry-run path.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    LineReader reader(fd, kMaxEventBytes);
    EventValidator validator;
    EmitHooks hooks;
    hooks.now_us = [now_us] { return now_us; };
    const auto start = std::chrono::steady_clock::now();
    auto summary = run_emitter(reader, validator, hooks);
    const double seconds = seconds_since(start);
    ::close(fd);
    if (generated) {
        std::filesystem::remove(path);
    }
    if (!summary) {
        spdlog::error("bench validate: {}", summary.error());
        return kExitFailure;
    }
    const double rate = static_cast<double>(summary->lines) / seconds;
    const double raw_rate = static_cast<double>(raw_lines) / raw_seconds;
    std::string out =
        "{\"bench\":\"validate\",\"lines\":" + std::to_string(summary->lines) +
        ",\"valid\":" + std::to_string(summary->valid) +
        ",\"invalid\":" + std::to_string(summary->invalid) +
        ",\"seconds\":" + std::to_string(seconds) +
        ",\"lines_per_second\":" + std::to_string(static_cast<std::uint64_t>(rate)) +
        ",\"raw_read_lines_per_second\":" + std::to_string(static_cast<std::uint64_t>(raw_rate)) +
        ",\"mib_per_second\":" +
        std::to_string(static_cast<double>(summary->bytes) / seconds / 1048576.0) +
        ",\"seed\":" + std::to_string(args.seed) + "}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    spdlog::info(
        "bench validate: {:.0f} lines/s validated ({:.0f} lines/s raw read), {:.1f}% of raw", rate,
        raw_rate, 100.0 * rate / raw_rate);
    return kExitOk;
}

}  // namespace

void add_bench_command(CLI::App& app, CommandRunner& run) {
    auto* bench = app.add_subcommand(
        "bench", "Measure throughput on this machine (figures for BENCHMARKS.md; single thread)");
    bench->require_subcommand(1);
    auto args = std::make_shared<BenchValidateArgs>();
    auto* validate = bench->add_subcommand(
        "validate",
        "The emit --dry-run path: read + parse + validate JSON lines, on one thread, beside the\n"
        "raw line-reading rate of the same file. Generates ~200-byte events unless --file.");
    validate->add_option("--lines", args->lines, "Lines to generate")
        ->check(CLI::Range(1ULL, 100'000'000ULL))
        ->capture_default_str();
    validate->add_option("--file", args->file, "Measure this JSON-lines file instead")
        ->check(CLI::ExistingFile);
    validate->add_option("--seed", args->seed, "Generator seed (default: random, logged)");
    validate->add_option("--invalid-percent", args->invalid_percent, "Share of invalid lines")
        ->check(CLI::Range(0.0, 100.0))
        ->capture_default_str();
    validate->callback([args, &run] { run = [args] { return run_bench_validate(*args); }; });
    add_bench_ledger(*bench, run);
    add_bench_e2e(*bench, run);
    add_bench_replay(*bench, run);
}

}  // namespace ul::ops
