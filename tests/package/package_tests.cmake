# SPDX-License-Identifier: BSL-1.0
# tests/package/package_tests.cmake: the packaging tests, included at the end of tests/CMakeLists.txt.
#
#   package: install and build a find_package consumer   cmake --install into a fresh prefix, then the
#                                                         consumer project (this folder) built against it
#   package: the installed consumer runs a request        that consumer against the test server
#   package: add_subdirectory consumer                    the consumer configured with h2coal as a subdirectory
#   package: manifests                                    vcpkg.json files parse and agree with the version;
#                                                         license BSL-1.0 everywhere
#   package: SPDX headers                                 every source file opens with its SPDX line
#   package: recipes (python3)                            conanfile.py compile, JSON loads, licenses (when
#                                                         python3 exists)
set(_h2coal_pkg_work "${CMAKE_CURRENT_BINARY_DIR}/package")
set(_h2coal_pkg_common
  "-DH2COAL_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  "-DGENERATOR=${CMAKE_GENERATOR}"
  "-DC_COMPILER=${CMAKE_C_COMPILER}"
  "-DCXX_COMPILER=${CMAKE_CXX_COMPILER}"
  "-DBUILD_TYPE=$<CONFIG>"
  "-DWITH_CARES=${H2COAL_HAS_CARES}")
get_property(_h2coal_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
if(_h2coal_multi_config)
  list(APPEND _h2coal_pkg_common "-DCONFIG=$<CONFIG>")
endif()

if(H2COAL_INSTALL)
  add_test(NAME "package: install and build a find_package consumer"
    COMMAND "${CMAKE_COMMAND}" ${_h2coal_pkg_common} -DMODE=install
            "-DH2COAL_BUILD_DIR=${PROJECT_BINARY_DIR}" "-DWORK_DIR=${_h2coal_pkg_work}/installed"
            -P "${CMAKE_CURRENT_LIST_DIR}/build_consumer.cmake")
  # One heavy translation unit (the whole library) on a small machine.
  set_tests_properties("package: install and build a find_package consumer" PROPERTIES
    TIMEOUT 900 FIXTURES_SETUP h2coal_installed_consumer)

  if(UNIX)
    add_executable(h2coal_package_runner "${CMAKE_CURRENT_LIST_DIR}/package_runner.cpp")
    target_link_libraries(h2coal_package_runner PRIVATE h2coal_test_support)
    target_compile_options(h2coal_package_runner PRIVATE ${H2COAL_WARNINGS})
    set(_h2coal_consumer "${_h2coal_pkg_work}/installed/consumer-build")
    if(_h2coal_multi_config)
      string(APPEND _h2coal_consumer "/$<CONFIG>")
    endif()
    add_test(NAME "package: the installed consumer runs a request"
      COMMAND h2coal_package_runner "${_h2coal_consumer}/h2coal_package_consumer")
    set_tests_properties("package: the installed consumer runs a request" PROPERTIES
      TIMEOUT 120 FIXTURES_REQUIRED h2coal_installed_consumer)
  endif()
endif()

add_test(NAME "package: add_subdirectory consumer"
  COMMAND "${CMAKE_COMMAND}" ${_h2coal_pkg_common} -DMODE=subdirectory
          "-DWORK_DIR=${_h2coal_pkg_work}/subdirectory"
          -P "${CMAKE_CURRENT_LIST_DIR}/build_consumer.cmake")

add_test(NAME "package: manifests"
  COMMAND "${CMAKE_COMMAND}" "-DH2COAL_SOURCE_DIR=${PROJECT_SOURCE_DIR}" "-DVERSION=${PROJECT_VERSION}"
          -P "${CMAKE_CURRENT_LIST_DIR}/check_manifests.cmake")

add_test(NAME "package: SPDX headers"
  COMMAND "${CMAKE_COMMAND}" "-DH2COAL_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
          -P "${CMAKE_CURRENT_LIST_DIR}/check_spdx.cmake")

find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_test(NAME "package: recipes (python3)"
    COMMAND Python3::Interpreter "${CMAKE_CURRENT_LIST_DIR}/check_recipes.py" "${PROJECT_SOURCE_DIR}"
            "${_h2coal_pkg_work}/pyc")
else()
  message(STATUS "h2coal: no python3, so the Conan recipe is not byte-compiled by the tests")
endif()
