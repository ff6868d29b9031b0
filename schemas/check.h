// UL_CHECK: an assertion that stays on in release builds and says what broke (STYLE habit 3).
// Use it for programmer errors only; expected failures are Result values.
#pragma once

#include <cstdio>
#include <cstdlib>

#define UL_CHECK(condition, message)                                                        \
    do {                                                                                    \
        if (!(condition)) [[unlikely]] {                                                    \
            std::fprintf(stderr, "usage-ledger: internal check failed at %s:%d: %s (%s)\n", \
                         __FILE__, __LINE__, message, #condition);                          \
            std::abort();                                                                   \
        }                                                                                   \
    } while (false)
