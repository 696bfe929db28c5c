# SPDX-License-Identifier: BSL-1.0
# tests/package/build_consumer.cmake: builds the consumer project (tests/package) the two ways a user
# takes h2coal. Run with cmake -P by the package tests (package_tests.cmake).
#
#   -DMODE=install       cmake --install H2COAL_BUILD_DIR into a fresh prefix under WORK_DIR, check what
#                        landed there (CMake package, headers, h2coal.pc through pkg-config), then
#                        configure the consumer with CMAKE_PREFIX_PATH=<prefix> and build it.
#   -DMODE=subdirectory  configure the consumer with -DH2COAL_SOURCE_DIR (add_subdirectory) and check,
#                        from its compile_commands.json, that main.cpp gets h2coal's include directory,
#                        definitions and C++20. Nothing is compiled.
#
# Other variables: H2COAL_SOURCE_DIR, WORK_DIR, GENERATOR, C_COMPILER, CXX_COMPILER, BUILD_TYPE, CONFIG,
# WITH_CARES (h2coal's build has c-ares: the consumer must get it too, through the package and h2coal.pc).
cmake_minimum_required(VERSION 3.21)

foreach(_v MODE H2COAL_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${_v} OR "${${_v}}" STREQUAL "")
    message(FATAL_ERROR "build_consumer.cmake: ${_v} is not set")
  endif()
endforeach()

function(run)
  string(JOIN " " _shown ${ARGV})
  message(STATUS "+ ${_shown}")
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "failed (${_rc}): ${_shown}")
  endif()
endfunction()

function(expect_file path)
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "not installed: ${path}")
  endif()
endfunction()

set(_consumer_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
if(C_COMPILER)
  list(APPEND _consumer_args "-DCMAKE_C_COMPILER=${C_COMPILER}")
endif()
if(BUILD_TYPE)
  list(APPEND _consumer_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
set(_config_args)
if(CONFIG)
  set(_config_args --config "${CONFIG}")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

if(MODE STREQUAL "install")
  if(NOT H2COAL_BUILD_DIR)
    message(FATAL_ERROR "build_consumer.cmake: H2COAL_BUILD_DIR is not set")
  endif()
  set(_prefix "${WORK_DIR}/prefix")
  run("${CMAKE_COMMAND}" --install "${H2COAL_BUILD_DIR}" --prefix "${_prefix}" ${_config_args})

  # What the prefix must hold (default layout: header-only, so share/).
  set(_pkgdir "${_prefix}/share/cmake/h2coal")
  foreach(_f h2coalConfig.cmake h2coalConfigVersion.cmake h2coalTargets.cmake h2coalDependencies.cmake
             FindAsio.cmake FindLLHTTP.cmake FindCares.cmake FindBrotli.cmake FindZstd.cmake)
    expect_file("${_pkgdir}/${_f}")
  endforeach()
  file(GLOB _src_headers RELATIVE "${H2COAL_SOURCE_DIR}/include" "${H2COAL_SOURCE_DIR}/include/h2coal/*.hpp"
       "${H2COAL_SOURCE_DIR}/include/h2coal/*/*.hpp")
  list(LENGTH _src_headers _n)
  if(_n EQUAL 0)
    message(FATAL_ERROR "no headers found under ${H2COAL_SOURCE_DIR}/include")
  endif()
  foreach(_h IN LISTS _src_headers)
    expect_file("${_prefix}/include/${_h}")
  endforeach()
  expect_file("${_prefix}/share/pkgconfig/h2coal.pc")

  # h2coal.pc, read by pkg-config where there is one: flags for this prefix, whatever its path.
  find_program(_pkg_config NAMES pkg-config pkgconf)
  if(_pkg_config)
    set(ENV{PKG_CONFIG_PATH} "${_prefix}/share/pkgconfig")
    execute_process(COMMAND "${_pkg_config}" --cflags --libs h2coal RESULT_VARIABLE _rc
                    OUTPUT_VARIABLE _flags ERROR_VARIABLE _err OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "pkg-config --cflags --libs h2coal failed: ${_err}")
    endif()
    message(STATUS "pkg-config h2coal: ${_flags}")
    if(NOT _flags MATCHES "-I([^ ]+)")
      message(FATAL_ERROR "h2coal.pc gives no -I")
    endif()
    file(REAL_PATH "${CMAKE_MATCH_1}" _inc)
    file(REAL_PATH "${_prefix}/include" _want)
    if(NOT _inc STREQUAL _want)
      message(FATAL_ERROR "h2coal.pc points at ${_inc}, not ${_want}")
    endif()
    set(_want_flags -DASIO_STANDALONE -DASIO_NO_DEPRECATED -lnghttp2 -lssl)
    if(WITH_CARES)
      list(APPEND _want_flags -DH2COAL_HAS_CARES=1 -lcares)
    endif()
    foreach(_want_flag IN LISTS _want_flags)
      if(NOT _flags MATCHES "(^| )${_want_flag}( |$)")
        message(FATAL_ERROR "h2coal.pc gives no ${_want_flag}")
      endif()
    endforeach()
  else()
    message(STATUS "no pkg-config: h2coal.pc not checked")
  endif()

  set(_build "${WORK_DIR}/consumer-build")
  run("${CMAKE_COMMAND}" -S "${H2COAL_SOURCE_DIR}/tests/package" -B "${_build}" ${_consumer_args}
      "-DCMAKE_PREFIX_PATH=${_prefix}" "-DH2COAL_EXPECT_CARES=${WITH_CARES}")
  # The package came from the fresh prefix, not from a system or registry copy.
  file(STRINGS "${_build}/CMakeCache.txt" _dir REGEX "^h2coal_DIR:")
  string(REGEX REPLACE "^h2coal_DIR:[A-Z]+=" "" _dir "${_dir}")
  file(REAL_PATH "${_dir}" _dir)
  file(REAL_PATH "${_pkgdir}" _want)
  if(NOT _dir STREQUAL _want)
    message(FATAL_ERROR "find_package(h2coal) used ${_dir}, not ${_want}")
  endif()
  run("${CMAKE_COMMAND}" --build "${_build}" ${_config_args})

elseif(MODE STREQUAL "subdirectory")
  set(_build "${WORK_DIR}/subdirectory-build")
  run("${CMAKE_COMMAND}" -S "${H2COAL_SOURCE_DIR}/tests/package" -B "${_build}" ${_consumer_args}
      "-DH2COAL_SOURCE_DIR=${H2COAL_SOURCE_DIR}")
  # Not the top-level project there: none of h2coal's tests, examples or install rules.
  if(EXISTS "${_build}/h2coal/tests" OR EXISTS "${_build}/h2coal/examples")
    message(FATAL_ERROR "h2coal built its tests or examples as a subproject")
  endif()
  if(EXISTS "${_build}/h2coal/h2coal.pc")
    message(FATAL_ERROR "h2coal generated install rules as a subproject (H2COAL_INSTALL should be OFF)")
  endif()
  if(NOT EXISTS "${_build}/compile_commands.json")
    message(STATUS "generator ${GENERATOR} writes no compile_commands.json: flags not checked")
    return()
  endif()
  file(READ "${_build}/compile_commands.json" _json)
  string(JSON _n LENGTH "${_json}")
  set(_command "")
  math(EXPR _last "${_n} - 1")
  foreach(_i RANGE ${_last})
    string(JSON _file GET "${_json}" ${_i} file)
    if(_file MATCHES "tests/package/main\\.cpp$")
      string(JSON _command GET "${_json}" ${_i} command)
    endif()
  endforeach()
  if(_command STREQUAL "")
    message(FATAL_ERROR "main.cpp is not in compile_commands.json")
  endif()
  message(STATUS "main.cpp: ${_command}")
  set(_want_flags -DASIO_STANDALONE -DASIO_NO_DEPRECATED "${H2COAL_SOURCE_DIR}/include")
  if(WITH_CARES)
    list(APPEND _want_flags -DH2COAL_HAS_CARES=1)
  endif()
  foreach(_want_flag IN LISTS _want_flags)
    string(FIND "${_command}" "${_want_flag}" _at)
    if(_at LESS 0)
      message(FATAL_ERROR "main.cpp is compiled without ${_want_flag}")
    endif()
  endforeach()
  if(NOT _command MATCHES "std=(c|gnu)\\+\\+(2a|20|2b|23|26)")
    message(FATAL_ERROR "main.cpp is not compiled as C++20")
  endif()
else()
  message(FATAL_ERROR "build_consumer.cmake: unknown MODE ${MODE}")
endif()
