# SPDX-License-Identifier: BSL-1.0
# FindLLHTTP.cmake: llhttp as an installed library, or (Debian 12's node-llhttp) as C sources that we
# compile into a small static library. Defines LLHTTP::LLHTTP.
find_path(LLHTTP_INCLUDE_DIR NAMES llhttp.h PATH_SUFFIXES include include/llhttp share/include/llhttp
          HINTS /usr/share/include/llhttp)
find_library(LLHTTP_LIBRARY NAMES llhttp)
find_path(LLHTTP_SOURCE_DIR NAMES llhttp.c api.c http.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
if(LLHTTP_INCLUDE_DIR AND EXISTS "${LLHTTP_INCLUDE_DIR}/llhttp.h")
  file(STRINGS "${LLHTTP_INCLUDE_DIR}/llhttp.h" _ll REGEX "^#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH)")
  string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*PATCH ([0-9]+).*" "\\1.\\2.\\3" LLHTTP_VERSION "${_ll}")
endif()
if(LLHTTP_LIBRARY)
  set(_llhttp_req LLHTTP_LIBRARY)
else()
  set(_llhttp_req LLHTTP_SOURCE_DIR)
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LLHTTP REQUIRED_VARS LLHTTP_INCLUDE_DIR ${_llhttp_req} VERSION_VAR LLHTTP_VERSION)
if(LLHTTP_FOUND AND NOT TARGET LLHTTP::LLHTTP)
  if(LLHTTP_LIBRARY)
    add_library(LLHTTP::LLHTTP UNKNOWN IMPORTED)
    set_target_properties(LLHTTP::LLHTTP PROPERTIES IMPORTED_LOCATION "${LLHTTP_LIBRARY}"
                          INTERFACE_INCLUDE_DIRECTORIES "${LLHTTP_INCLUDE_DIR}")
  else()
    # Built in the consumer's tree; the sources are plain C99. A consumer project may enable only CXX
    # (find_package(h2coal) from its top-level file scope then turns C on).
    get_property(_llhttp_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
    if(NOT "C" IN_LIST _llhttp_languages)
      enable_language(C)
    endif()
    unset(_llhttp_languages)
    add_library(h2coal_llhttp STATIC
      "${LLHTTP_SOURCE_DIR}/llhttp.c" "${LLHTTP_SOURCE_DIR}/api.c" "${LLHTTP_SOURCE_DIR}/http.c")
    set_target_properties(h2coal_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
    target_include_directories(h2coal_llhttp SYSTEM PUBLIC "${LLHTTP_INCLUDE_DIR}")
    add_library(LLHTTP::LLHTTP ALIAS h2coal_llhttp)
  endif()
endif()
mark_as_advanced(LLHTTP_INCLUDE_DIR LLHTTP_LIBRARY LLHTTP_SOURCE_DIR)
