// FUZZ_CHECK: an invariant a fuzz target asserts; prints what broke and aborts, so libFuzzer
// (and tests/fuzz/corpus_main.cpp under ASan) reports the input as a crash.
#pragma once

#include "schemas/check.h"

#define FUZZ_CHECK(condition, message) UL_CHECK(condition, message)
