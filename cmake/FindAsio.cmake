# SPDX-License-Identifier: BSL-1.0
# FindAsio.cmake: standalone Asio (header-only), for distributions that ship no CMake package.
# Defines Asio::Asio and Asio_VERSION.
find_path(Asio_INCLUDE_DIR NAMES asio.hpp PATH_SUFFIXES include)
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_v REGEX "^#define ASIO_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _asio_v "${_asio_v}")
  math(EXPR _major "${_asio_v} / 100000")
  math(EXPR _minor "${_asio_v} / 100 % 1000")
  math(EXPR _patch "${_asio_v} % 100")
  set(Asio_VERSION "${_major}.${_minor}.${_patch}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio REQUIRED_VARS Asio_INCLUDE_DIR VERSION_VAR Asio_VERSION)
if(Asio_FOUND AND NOT TARGET Asio::Asio)
  add_library(Asio::Asio INTERFACE IMPORTED)
  set_target_properties(Asio::Asio PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}")
endif()
mark_as_advanced(Asio_INCLUDE_DIR)
