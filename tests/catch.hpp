// tests/catch.hpp: one include for Catch2 v2 (Debian 12's single header) and v3.
#pragma once
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_test_macros.hpp>
#include <catch2/catch_approx.hpp>
#else
#include <catch2/catch.hpp>
#endif
