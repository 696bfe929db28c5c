// SPDX-License-Identifier: BSL-1.0
// tests/catch_main.cpp: Catch2 v2's main (v3 links Catch2WithMain instead).
#define CATCH_CONFIG_MAIN
#include "catch.hpp"
