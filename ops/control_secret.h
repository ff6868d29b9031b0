// The control-plane secret: the HMAC-SHA256 key that signs usage.accounts records (see
// schemas/account.h). A file of 64 hex digits (32 random bytes), mode 0600, by default
// <data-dir>/control-plane.secret. `up` and `project` create it when it is absent; `account`
// only reads it. One place for both, so every command agrees on the format.
#pragma once

#include <string>

#include "ops/cli.h"
#include "schemas/result.h"

namespace ul::ops {

inline constexpr const char* kControlSecretFileName = "control-plane.secret";

// <data_dir>/control-plane.secret.
std::string control_secret_path(const std::string& data_dir);
// `account`'s default: the file next to --bootstrap-file when one is given (so `up --data-dir D`
// and `account --bootstrap-file D/bootstrap` agree), else data/control-plane.secret.
std::string default_account_secret_path(const KafkaOptions& kafka);
// The secret as the signatures use it (the file's 64 hex digits, surrounding whitespace
// dropped); an error naming the file when it is missing, unreadable or not 64 hex digits.
Result<std::string, std::string> load_control_secret(const std::string& path);
// Loads the file, or creates it first (32 bytes of RAND_bytes as hex, mode 0600; written to a
// temporary file and linked into place, so two processes starting at once agree on one secret).
Result<std::string, std::string> load_or_create_control_secret(const std::string& path);

}  // namespace ul::ops
