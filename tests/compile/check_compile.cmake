# SPDX-License-Identifier: BSL-1.0
# tests/compile/check_compile.cmake: compiles one target of the build tree and checks the outcome.
# Run with cmake -P:
#
#   -DBUILD_DIR=<build tree> -DTARGET=<target> [-DCONFIG=<config>]
#   -DEXPECT=pass                     the target must compile
#   -DEXPECT=fail -DFIRST_ERROR=text  it must not, and the compiler's first line with "error" must
#                                     contain `text`
#
# The target is compiled afresh (--clean-first would rebuild its dependencies too, so its object files
# are simply not kept: it compiles with -fsyntax-only).
cmake_minimum_required(VERSION 3.21)

foreach(_v BUILD_DIR TARGET EXPECT)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "check_compile.cmake: -D${_v}=... is required")
  endif()
endforeach()

set(_config)
if(CONFIG)
  set(_config --config "${CONFIG}")
endif()
# One job: the check is one translation unit, and other builds may share the machine.
execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${_config} --parallel 1
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)

if(EXPECT STREQUAL "pass")
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} should compile, and does not:\n${_out}")
  endif()
  message(STATUS "${TARGET}: compiles")
  return()
endif()

if(_rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} should not compile, and does:\n${_out}")
endif()
string(REPLACE ";" "\\;" _out_escaped "${_out}")
string(REPLACE "\n" ";" _lines "${_out_escaped}")
set(_first)
foreach(_line IN LISTS _lines)
  if(_line MATCHES ": (fatal )?error: ")
    set(_first "${_line}")
    break()
  endif()
endforeach()
# g++ quotes with ‘’ in UTF-8 locales and '' in others; compare without quotes.
string(REGEX REPLACE "[‘’'`]" "" _first_plain "${_first}")
string(REGEX REPLACE "[‘’'`]" "" _want_plain "${FIRST_ERROR}")
string(FIND "${_first_plain}" "${_want_plain}" _at)
if(_at LESS 0)
  message(FATAL_ERROR "${TARGET}: the first error line is\n  ${_first}\nwhich does not contain\n  "
                      "${FIRST_ERROR}\nThe whole output:\n${_out}")
endif()
message(STATUS "${TARGET}: fails as it should; first error line:\n  ${_first}")
