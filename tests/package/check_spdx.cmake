# SPDX-License-Identifier: BSL-1.0
# tests/package/check_spdx.cmake: every source file opens with the license's SPDX identifier.
# Run with cmake -P (-DH2COAL_SOURCE_DIR=...).
#
#   .hpp .ipp .cpp .c under include/ examples/ tests/ benchmarks/ fuzz/ docs/   first line
#       // SPDX-License-Identifier: BSL-1.0   (tests/catch.hpp is Catch2's own, and excluded)
#   CMakeLists.txt, *.cmake, *.cmake.in, *.pc.in, *.py, scripts/*, benchmarks/compare and compile_cost:
#       first line, or the second after a #! line: # SPDX-License-Identifier: BSL-1.0
cmake_minimum_required(VERSION 3.21)

set(_root "${H2COAL_SOURCE_DIR}")
set(_bad)
set(_count 0)

set(_sources)
foreach(_dir include examples tests benchmarks fuzz docs)
  file(GLOB_RECURSE _found RELATIVE "${_root}"
       "${_root}/${_dir}/*.hpp" "${_root}/${_dir}/*.ipp" "${_root}/${_dir}/*.cpp" "${_root}/${_dir}/*.c")
  list(APPEND _sources ${_found})
endforeach()
list(REMOVE_ITEM _sources "tests/catch.hpp")
foreach(_f IN LISTS _sources)
  file(STRINGS "${_root}/${_f}" _first LIMIT_COUNT 1)
  math(EXPR _count "${_count} + 1")
  if(NOT _first STREQUAL "// SPDX-License-Identifier: BSL-1.0")
    list(APPEND _bad "${_f}")
  endif()
endforeach()

file(GLOB_RECURSE _scripts RELATIVE "${_root}"
     "${_root}/CMakeLists.txt" "${_root}/*.cmake" "${_root}/*.cmake.in" "${_root}/*.pc.in" "${_root}/*.py")
file(GLOB _bin RELATIVE "${_root}" "${_root}/scripts/*")
list(APPEND _scripts ${_bin} benchmarks/compare benchmarks/compile_cost)
# Build trees inside the checkout are not sources.
list(FILTER _scripts EXCLUDE REGEX "^(build|out|\\.)|/build[^/]*/|CMakeFiles/|_deps/")
foreach(_f IN LISTS _scripts)
  file(STRINGS "${_root}/${_f}" _two LIMIT_COUNT 2)
  list(GET _two 0 _first)
  if(_first MATCHES "^#!")
    list(GET _two 1 _first)
  endif()
  math(EXPR _count "${_count} + 1")
  if(NOT _first STREQUAL "# SPDX-License-Identifier: BSL-1.0")
    list(APPEND _bad "${_f}")
  endif()
endforeach()

if(_bad)
  list(JOIN _bad "\n  " _list)
  message(FATAL_ERROR "no SPDX-License-Identifier: BSL-1.0 first line in:\n  ${_list}")
endif()
message(STATUS "${_count} files open with SPDX-License-Identifier: BSL-1.0")
