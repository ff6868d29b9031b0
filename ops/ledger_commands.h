// The ledger-facing commands and what `up` shares with them.
#pragma once

#include <string>

#include "ledger/ledger_store.h"
#include "ops/cli.h"

namespace ul::ops {

void add_ledger_commands(CLI::App& app, CommandRunner& run);
// `usage-ledger stats` output for a store.
std::string stats_json(const LedgerStore& store);

}  // namespace ul::ops
