// The account a PUT /v1/admin/accounts/{tenant} body describes. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/account.h"
#include "schemas/result.h"

namespace ul {

// The body is schemas/account.h's JSON without tenant_id (a tenant_id equal to the path's is
// allowed), updated_at (the server's: `now_us`) and keys (api_keys, api_key_sha256: managed at
// /v1/tenants/{tenant}/keys). A missing zone is UTC; zone and anchor are checked as the billing
// calendar reads them. Errors name the field.
Result<Account, std::string> account_from_put(std::string_view tenant, std::string_view body,
                                              std::int64_t now_us);

}  // namespace ul
