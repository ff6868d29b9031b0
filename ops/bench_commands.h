// The `bench` subcommands beyond `bench validate`.
#pragma once

#include "ops/cli.h"

namespace ul::ops {

void add_bench_ledger(CLI::App& bench, CommandRunner& run);

}  // namespace ul::ops
