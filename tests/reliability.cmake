# SPDX-License-Identifier: BSL-1.0
# tests/reliability.cmake (issue 9): the test binaries that scripts/sanitize and scripts/soak build on
# their own. Included from tests/CMakeLists.txt; neither is part of `all`.
#
# h2coal_threads_test: integration/threads_test.cpp alone (it runs in h2coal_integration_tests too), so
# that a ThreadSanitizer build compiles one test instead of every one.
add_executable(h2coal_threads_test EXCLUDE_FROM_ALL integration/threads_test.cpp)
target_link_libraries(h2coal_threads_test PRIVATE h2coal::h2coal h2coal_catch h2coal_test_support)
target_compile_options(h2coal_threads_test PRIVATE ${H2COAL_WARNINGS})

# h2coal_soak: 100,000 requests with faults (soak/soak.cpp); scripts/soak runs it.
add_executable(h2coal_soak EXCLUDE_FROM_ALL soak/soak.cpp)
target_link_libraries(h2coal_soak PRIVATE h2coal::h2coal h2coal_test_support)
target_compile_options(h2coal_soak PRIVATE ${H2COAL_WARNINGS})
