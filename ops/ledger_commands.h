// The ledger-facing commands and what `up` shares with them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ledger/ledger_store.h"
#include "ops/cli.h"

namespace ul::ops {

void add_ledger_commands(CLI::App& app, CommandRunner& run);
// `usage-ledger stats` output for a store.
std::string stats_json(const LedgerStore& store);
// `stats` over several stores (ledgers of one group): per partition the counts of the store
// furthest along it, summed.
std::string summed_stats_json(const std::vector<std::string>& dirs,
                              const std::vector<std::unique_ptr<LedgerStore>>& stores);

}  // namespace ul::ops
