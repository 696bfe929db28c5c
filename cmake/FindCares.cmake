# SPDX-License-Identifier: BSL-1.0
# FindCares.cmake: c-ares by its header and library, for where it ships neither a CMake package nor a
# pkg-config module. Defines Cares::Cares and Cares_VERSION (from ares_version.h).
find_path(Cares_INCLUDE_DIR NAMES ares.h)
find_library(Cares_LIBRARY NAMES cares cares_static)
if(Cares_INCLUDE_DIR AND EXISTS "${Cares_INCLUDE_DIR}/ares_version.h")
  file(STRINGS "${Cares_INCLUDE_DIR}/ares_version.h" _cares_v REGEX "^#define ARES_VERSION_STR ")
  string(REGEX REPLACE "^#define ARES_VERSION_STR \"([0-9.]+)\".*" "\\1" Cares_VERSION "${_cares_v}")
  unset(_cares_v)
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Cares REQUIRED_VARS Cares_LIBRARY Cares_INCLUDE_DIR VERSION_VAR Cares_VERSION)
if(Cares_FOUND AND NOT TARGET Cares::Cares)
  add_library(Cares::Cares UNKNOWN IMPORTED)
  set_target_properties(Cares::Cares PROPERTIES IMPORTED_LOCATION "${Cares_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${Cares_INCLUDE_DIR}")
endif()
mark_as_advanced(Cares_INCLUDE_DIR Cares_LIBRARY)
