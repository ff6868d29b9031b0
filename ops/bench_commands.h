// The `bench` subcommands beyond `bench validate`.
#pragma once

#include "ops/cli.h"

namespace ul::ops {

void add_bench_ledger(CLI::App& bench, CommandRunner& run);
// `bench projection` and `bench e2e`.
void add_bench_e2e(CLI::App& bench, CommandRunner& run);
// `bench replay`.
void add_bench_replay(CLI::App& bench, CommandRunner& run);

}  // namespace ul::ops
