# SPDX-License-Identifier: BSL-1.0
# tests/support/support.cmake: the programmable test server and test CA (tests/support), compiled once
# as h2coal_test_support. Included by tests/CMakeLists.txt, and by examples/CMakeLists.txt when the tests
# are off (the demo server is built on it, and scripts/demo configures without the tests); it needs
# neither Catch2 nor anything else the tests need.
if(TARGET h2coal_test_support)
  return()
endif()
file(GLOB H2COAL_SUPPORT_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cpp)
add_library(h2coal_test_support STATIC ${H2COAL_SUPPORT_SOURCES})
target_include_directories(h2coal_test_support PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(h2coal_test_support PUBLIC h2coal::h2coal)
target_compile_options(h2coal_test_support PRIVATE ${H2COAL_WARNINGS})
